"""COCO-protocol evaluation: numbers pycocotools must give on small cases one can reason about."""

import numpy as np
import pytest

from cnnjax.boxes import coco_stats_names, evaluate

CLASSES = ("shirt", "shoe", "bag")


def _scenes(rng, images=6, per_image=4):
  """Ground truth: 10..40-pixel boxes of every class, none overlapping (each in its own 50-pixel column)."""
  scenes = []
  for _ in range(images):
    size = rng.uniform(10, 40, (per_image, 2))
    corner = np.stack([np.arange(per_image) * 50 + rng.uniform(0, 5, per_image), rng.uniform(0, 50, per_image)], 1)
    scenes.append({"boxes": np.concatenate([corner, corner + size], 1),
                   "classes": rng.permutation(np.arange(per_image) % len(CLASSES))})
  return scenes


def _perfect(scenes, rng):
  return [{"boxes": s["boxes"].copy(), "classes": s["classes"].copy(), "scores": rng.uniform(0.5, 1, len(s["boxes"]))}
          for s in scenes]


def test_perfect_detections_score_one():
  rng = np.random.default_rng(0)
  scenes = _scenes(rng)
  metrics = evaluate(scenes, _perfect(scenes, rng), CLASSES)
  assert metrics["map"] == pytest.approx(1.0) and metrics["map50"] == pytest.approx(1.0)
  assert metrics["ar100"] == pytest.approx(1.0)
  assert all(v == pytest.approx(1.0) for v in metrics["per_class_ap"].values())
  assert set(coco_stats_names()) <= set(metrics) and metrics["map_large"] is None  # no box is over 96^2 pixels


def test_iou_of_six_tenths_passes_at_half_and_fails_at_three_quarters():
  """Every detection shifted right by s * width has IoU (1 - s) / (1 + s) with its object: 0.62 for s = 0.38/1.62
  (0.6 itself would sit on one of COCO's thresholds, .5:.05:.95)."""
  rng = np.random.default_rng(1)
  scenes = _scenes(rng)
  detections = _perfect(scenes, rng)
  for d in detections:
    d["boxes"] = d["boxes"] + (d["boxes"][:, 2:3] - d["boxes"][:, 0:1]) * 0.38 / 1.62 * np.array([1, 0, 1, 0])
  metrics = evaluate(scenes, detections, CLASSES)
  assert metrics["map50"] == pytest.approx(1.0) and metrics["map75"] == 0.0
  assert metrics["map"] == pytest.approx(0.3)  # matched at IoU .5, .55 and .6: 3 of the 10 thresholds


def test_missed_class_has_zero_ap_and_order_is_irrelevant():
  rng = np.random.default_rng(2)
  scenes = _scenes(rng)
  detections = [{k: v[d["classes"] != 1] for k, v in d.items()} for d in _perfect(scenes, rng)]
  metrics = evaluate(scenes, detections, CLASSES)
  assert metrics["per_class_ap"] == pytest.approx({"shirt": 1.0, "shoe": 0.0, "bag": 1.0})
  assert metrics["map"] == pytest.approx(2 / 3)
  shuffled = []
  for d in detections:
    order = rng.permutation(len(d["boxes"]))
    shuffled.append({k: v[order] for k, v in d.items()})
  assert evaluate(scenes, shuffled[::-1][::-1], CLASSES) == metrics


def test_false_positive_rank_and_101_point_interpolation():
  """Two objects. A false positive ranked last leaves AP 1. Ranked between the true positives, precision is 1 up to
  recall 1/2 and 2/3 after: pycocotools' 101 recall points give (51 * 1 + 50 * 2/3) / 101 = 253/303 (all-point
  interpolation, VOC 2010's, would give 5/6). Ranked first: 2/3 at every recall point."""
  ground_truth = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "classes": [0, 0]}]
  true_positives, false_positive = [[0, 0, 10, 10], [20, 20, 30, 30]], [[50, 50, 60, 60]]

  def ap50(scores):
    detections = [{"boxes": true_positives + false_positive, "classes": [0, 0, 0], "scores": scores}]
    return evaluate(ground_truth, detections, CLASSES)["map50"]

  assert ap50([0.9, 0.8, 0.1]) == pytest.approx(1.0)
  assert ap50([0.9, 0.7, 0.8]) == pytest.approx(253 / 303, abs=1e-12)
  assert ap50([0.9, 0.8, 0.95]) == pytest.approx(2 / 3, abs=1e-12)


def test_images_without_boxes():
  scenes = [{"boxes": [[0, 0, 10, 10]], "classes": [2]}, {"boxes": [], "classes": []}]
  hit = {"boxes": [[0, 0, 10, 10]], "classes": [2], "scores": [0.9]}
  nothing = {"boxes": np.zeros((0, 4)), "classes": [], "scores": []}
  per_class = evaluate(scenes, [hit, nothing], CLASSES)["per_class_ap"]
  assert per_class == pytest.approx({"shirt": None, "shoe": None, "bag": 1.0})  # no shirts, no shoes: None
  assert evaluate(scenes, [nothing, nothing], CLASSES)["map"] == 0.0
  false_alarm = {"boxes": [[0, 0, 10, 10]], "classes": [2], "scores": [0.95]}
  # the false alarm in the empty image ranks first: precision 1/2 at every recall point
  assert evaluate(scenes, [hit, false_alarm], CLASSES)["map50"] == pytest.approx(1 / 2)
  with pytest.raises(ValueError, match="classes"):
    evaluate(scenes, [{"boxes": [[0, 0, 1, 1]], "classes": [3], "scores": [1]}, nothing], CLASSES)
