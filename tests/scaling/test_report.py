"""The scaling study's plan and efficiencies, by hand (`cnnjax scale` end to end: tests/commands/test_scale.py)."""

import pytest

from cnnjax.scaling import report


def test_plan_is_the_weak_grid_plus_strong_series_that_divide():
  assert report.plan_points([1, 2, 4, 8], [32, 64], [64]) == [
      (1, 32), (1, 64), (2, 32), (2, 64), (4, 16), (4, 32), (4, 64), (8, 8), (8, 32), (8, 64)]
  assert report.plan_points([1, 3], [4], [8]) == [(1, 4), (1, 8), (3, 4)]  # 8 does not split over 3


def test_efficiencies_are_per_device_throughput_relative_to_the_fewest_devices():
  points = [{"devices": 1, "per_device_batch": 32, "global_batch": 32, "images_per_second": 100.0},
            {"devices": 2, "per_device_batch": 32, "global_batch": 64, "images_per_second": 150.0},
            {"devices": 4, "per_device_batch": 32, "global_batch": 128, "images_per_second": 400.0},
            {"devices": 2, "per_device_batch": 16, "global_batch": 32, "images_per_second": 160.0},
            {"devices": 4, "per_device_batch": 8, "global_batch": 32, "images_per_second": 40.0},
            {"devices": 8, "per_device_batch": 4, "global_batch": 32, "error": "timed out"}]
  report.add_efficiencies(points, per_device_batches=[32], global_batches=[32])
  assert [p.get("weak_efficiency") for p in points[:3]] == pytest.approx([1.0, 0.75, 1.0])
  assert points[3].get("weak_efficiency") is None  # per-device batch 16 is not a weak series
  assert [points[i].get("strong_efficiency") for i in (0, 3, 4)] == pytest.approx([1.0, 0.8, 0.1])
  assert "strong_efficiency" not in points[5]
