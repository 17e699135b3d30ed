"""The detection task: CenterNet's targets and decoding, R-CNN's assignment and decoding, COCO scoring, and a
detector that trains through the runner on prepared scenes (pycocotools mAP in results.json)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.train import detection

BOXES = np.asarray([[[4.0, 8.0, 32.0, 36.0], [30.0, 20.0, 58.0, 44.0], [0, 0, 0, 0]]], np.float32)
CLASSES = np.asarray([[3, 7, -1]], np.int32)
LABELS = {"boxes": jnp.asarray(BOXES), "classes": jnp.asarray(CLASSES)}


def _centernet_radius(height, width, min_overlap=0.7):
  """CenterNet's own gaussian_radius (xingyizhou/CenterNet, utils/image.py), in numpy."""
  a1, b1, c1 = 1, height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
  r1 = (b1 + np.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
  a2, b2, c2 = 4, 2 * (height + width), (1 - min_overlap) * width * height
  r2 = (b2 + np.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
  a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
  r3 = (b3 + np.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
  return min(r1, r2, r3)


@pytest.mark.parametrize("height,width", [(7.0, 7.0), (3.5, 6.25), (20.0, 2.0), (1.0, 1.0)])
def test_gaussian_radius_is_centernets(height, width):
  np.testing.assert_allclose(detection.gaussian_radius(jnp.float32(height), jnp.float32(width)),
                             _centernet_radius(height, width), rtol=1e-5)


def test_heat_map_targets_peak_once_per_object_in_its_class():
  objective = detection.CenterNetObjective(stride=4)
  heat, cell, size, offset, valid = objective.targets(LABELS, 16, 16, 10)
  assert heat.shape == (1, 16, 16, 10) and valid.tolist() == [[True, True, False]]
  assert cell[0, :2].tolist() == [[4, 5], [11, 8]]  # centres (18, 22) / 4 = (4.5, 5.5) and (44, 32) / 4 = (11, 8)
  np.testing.assert_allclose(offset[0, :2], [[0.5, 0.5], [0.0, 0.0]])
  np.testing.assert_allclose(size[0, :2], [[7.0, 7.0], [7.0, 6.0]])
  assert np.sum(np.asarray(heat) == 1.0) == 2
  assert heat[0, 5, 4, 3] == 1.0 and heat[0, 8, 11, 7] == 1.0
  other = np.delete(np.asarray(heat[0]), [3, 7], axis=-1)
  assert other.max() == 0.0 and 0 < heat[0, 5, 5, 3] < 1  # a neighbour of a centre is in (0, 1)


def _perfect_centernet_outputs(objective, labels, k=10, h=16, w=16):
  heat, cell, size, offset, valid = objective.targets(labels, h, w, k)
  logits = jnp.where(heat >= 1.0, 12.0, -12.0)
  size_map = jnp.zeros((1, h, w, 2)).at[0, cell[0, :, 1], cell[0, :, 0]].set(jnp.where(valid[0, :, None], size[0], 0))
  offset_map = jnp.zeros((1, h, w, 2)).at[0, cell[0, :, 1], cell[0, :, 0]].set(
      jnp.where(valid[0, :, None], offset[0], 0))
  return {"heatmap": logits, "size": size_map, "offset": offset_map}


def test_centernet_decodes_perfect_maps_to_the_boxes_and_scores_them_perfectly():
  objective = detection.CenterNetObjective(stride=4, max_detections=100)
  outputs = _perfect_centernet_outputs(objective, LABELS)
  boxes, scores, classes = objective.detect(outputs)
  assert boxes.shape == (1, 100, 4)
  np.testing.assert_allclose(boxes[0, :2], BOXES[0, [1, 0]] if classes[0, 0] == 7 else BOXES[0, :2], atol=1e-5)
  assert sorted(classes[0, :2].tolist()) == [3, 7] and float(scores[0, 2]) < 1e-4
  task = detection.Detection(objective, num_classes=10)
  sums = task.eval_sums(outputs, LABELS, jnp.ones(1))
  metrics = task.finalize(task.accumulate(None, sums))
  assert metrics["map"] == pytest.approx(1.0) and metrics["map50"] == pytest.approx(1.0)
  assert metrics["num_examples"] == 1


def test_focal_loss_prefers_the_right_maps():
  objective = detection.CenterNetObjective(stride=4)
  perfect = _perfect_centernet_outputs(objective, LABELS)
  prior = {"heatmap": jnp.full((1, 16, 16, 10), -2.2), "size": jnp.zeros((1, 16, 16, 2)),
           "offset": jnp.zeros((1, 16, 16, 2))}
  good, parts = objective.loss(perfect, LABELS)
  bad, _ = objective.loss(prior, LABELS)
  assert float(good) < 0.05 < float(bad) and float(parts["size_loss"]) == 0.0


def test_rcnn_assigns_proposals_and_decodes_them():
  objective = detection.RCNNObjective(nms_iou=0.3, max_detections=10)
  proposals = jnp.asarray([[[4.0, 8.0, 32.0, 36.0], [5.0, 9.0, 33.0, 37.0], [40.0, 0.0, 60.0, 10.0], [0, 0, 0, 0]]])
  logits = jnp.zeros((1, 4, 11)).at[0, 0, 4].set(9.0).at[0, 1, 4].set(8.0).at[0, 2, 0].set(9.0)
  outputs = {"class_logits": logits, "box_deltas": jnp.zeros((1, 4, 10, 4)), "proposals": proposals}
  loss, metrics = objective.loss(outputs, LABELS)
  assert float(metrics["foreground_fraction"]) == pytest.approx(2 / 3)  # two of three real proposals overlap class 3
  assert float(metrics["accuracy"]) == 1.0 and float(metrics["box_loss"]) > 0  # zero deltas miss the 1-pixel shift
  boxes, scores, classes = objective.detect(outputs)
  assert classes[0, 0] == 3 and np.allclose(boxes[0, 0], proposals[0, 0])
  # the shifted duplicate (IoU 0.87) of the same class is suppressed; padding proposals never appear
  kept = [(tuple(np.round(b, 3)), int(c)) for b, s, c in zip(boxes[0], scores[0], classes[0]) if c == 3 and s > 0.5]
  assert len(kept) == 1


def test_rcnn_trains_on_ground_truth_boxes_too():
  objective = detection.RCNNObjective()
  batch = {"image": jnp.zeros((1, 64, 64, 1)), "proposals": jnp.zeros((1, 5, 4)), "label": LABELS}
  _, proposals = objective.model_inputs(batch, train=True)
  assert proposals.shape == (1, 8, 4) and np.allclose(proposals[0, 5:], BOXES[0])
  assert objective.model_inputs(batch, train=False)[1].shape == (1, 5, 4)
