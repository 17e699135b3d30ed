"""The scaling study: its plan, efficiencies by hand, and `cnnjax scale` end to end on 1 and 2 CPU devices."""

import json

import pytest

from cnnjax.parallel import scaling
from tests.parallel import subprocesses


def test_plan_is_the_weak_grid_plus_strong_series_that_divide():
  assert scaling.plan_points([1, 2, 4, 8], [32, 64], [64]) == [
      (1, 32), (1, 64), (2, 32), (2, 64), (4, 16), (4, 32), (4, 64), (8, 8), (8, 32), (8, 64)]
  assert scaling.plan_points([1, 3], [4], [8]) == [(1, 4), (1, 8), (3, 4)]  # 8 does not split over 3


def test_efficiencies_are_per_device_throughput_relative_to_the_fewest_devices():
  points = [{"devices": 1, "per_device_batch": 32, "global_batch": 32, "images_per_second": 100.0},
            {"devices": 2, "per_device_batch": 32, "global_batch": 64, "images_per_second": 150.0},
            {"devices": 4, "per_device_batch": 32, "global_batch": 128, "images_per_second": 400.0},
            {"devices": 2, "per_device_batch": 16, "global_batch": 32, "images_per_second": 160.0},
            {"devices": 4, "per_device_batch": 8, "global_batch": 32, "images_per_second": 40.0},
            {"devices": 8, "per_device_batch": 4, "global_batch": 32, "error": "timed out"}]
  scaling.add_efficiencies(points, per_device_batches=[32], global_batches=[32])
  assert [p.get("weak_efficiency") for p in points[:3]] == pytest.approx([1.0, 0.75, 1.0])
  assert points[3].get("weak_efficiency") is None  # per-device batch 16 is not a weak series
  assert [points[i].get("strong_efficiency") for i in (0, 3, 4)] == pytest.approx([1.0, 0.8, 0.1])
  assert "strong_efficiency" not in points[5]


def test_scale_command_writes_json_table_and_plot(tmp_path):
  """Also proves the accelerator path: without --config, tensorflow, tfds and ml_collections are never imported."""
  out = tmp_path / "study"
  blocked = subprocesses.blocking_imports(tmp_path / "blocked", ("tensorflow", "tensorflow_datasets", "ml_collections"))
  process = subprocesses.start(["-m", "cnnjax.main", "scale", "--model", "lenet5", "--input-shape", "28,28,1",
                                "--devices", "1,2", "--per-device-batch", "4", "--global-batch", "0", "--steps", "2",
                                "--warmup-steps", "1", "--out", str(out)], devices=1, path_first=(blocked,))
  subprocesses.finish(process, timeout=240)
  study = json.loads((out / "scaling.json").read_text())
  assert study["backend"] == "cpu" and study["simulated_devices"]
  assert [(p["devices"], p["global_batch"]) for p in study["points"]] == [(1, 4), (2, 8)]
  for p in study["points"]:
    assert p["compile_seconds"] > 0 and p["images_per_second"] > 0 and p["peak_memory_bytes"] > 2**20
    assert len(p["step_seconds"]) == 2
  assert study["points"][0]["weak_efficiency"] == 1.0
  table = (out / "scaling.md").read_text()
  assert "share this machine's" in table and table.count("\n| ") == 3  # header + 2 points
  assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"
