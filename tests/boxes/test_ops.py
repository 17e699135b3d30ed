"""Box operations against their references: torchvision (IoU, box coding, matching) and OpenCV (NMS), on random
boxes with duplicates, tied scores, shared edges, nested and zero-area boxes."""

import cv2
import jax
import numpy as np
import pytest

from cnnjax.boxes import ops
from cnnjax.weights.torch_shim import import_torch, import_torchvision

N = 200  # one NMS shape for the parity tests, so nms compiles once


def _grid_boxes(rng, n, size=40.0, step=0.5, degenerate=0.0):
  """Boxes on a half-pixel grid (so edges are shared exactly), a fifth of them duplicates of others, some nested;
  a `degenerate` fraction get zero width, zero height or both. float32 [n, 4]."""
  corner = rng.integers(0, int(size / step), (n, 2)) * step
  extent = rng.integers(1, int(size / 2 / step), (n, 2)) * step
  extent = np.where(rng.random((n, 2)) < degenerate, 0.0, extent)
  boxes = np.concatenate([corner, corner + extent], axis=1)
  boxes[rng.integers(0, n, n // 5)] = boxes[rng.integers(0, n, n // 5)]
  inner, outer = rng.integers(0, n, (2, max(n // 20, 2)))
  wide = (boxes[outer, 2:] - boxes[outer, :2]).min(axis=1) > 2 * step
  boxes[inner[wide]] = boxes[outer[wide]] + np.array([step, step, -step, -step])
  return boxes.astype(np.float32)


def _tied_scores(rng, n, levels=8):
  return (rng.integers(1, levels + 1, n) / levels).astype(np.float32)


def _opencv_nms(boxes, scores, iou_threshold, score_threshold=0.0):
  xywh = np.asarray(ops.xyxy_to_xywh(boxes), np.float64).tolist()
  return np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), score_threshold, iou_threshold), np.int64).reshape(-1)


def _kept(result):
  indices, count = result
  indices, count = np.asarray(indices), int(count)
  assert (indices[count:] == -1).all()
  return indices[:count]


def test_box_area_clip_and_layouts():
  boxes = np.array([[1.0, 2.0, 4.0, 8.0], [-3.0, 5.0, 12.0, 5.0]], np.float32)
  np.testing.assert_array_equal(ops.box_area(boxes), [18.0, 0.0])
  np.testing.assert_array_equal(ops.clip_boxes(boxes, height=6, width=10), [[1, 2, 4, 6], [0, 5, 10, 5]])
  np.testing.assert_array_equal(ops.xyxy_to_xywh(boxes), [[1, 2, 3, 6], [-3, 5, 15, 0]])
  np.testing.assert_array_equal(ops.xywh_to_xyxy(ops.xyxy_to_xywh(boxes)), boxes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_iou_matches_torchvision(seed):
  torch, torchvision = import_torch(), import_torchvision()
  boxes = _grid_boxes(np.random.default_rng(seed), 120, degenerate=0.15)
  ours = np.asarray(ops.box_iou(boxes, boxes[::-1]))
  theirs = torchvision.ops.box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes[::-1].copy())).numpy()
  area = np.asarray(ops.box_area(boxes))
  both_empty = (area[:, None] == 0) & (area[::-1][None, :] == 0)
  assert both_empty.any() and (ours == 1).sum() > (area > 0).sum()  # zero-area pairs and duplicates are present
  np.testing.assert_array_equal(np.isnan(theirs), both_empty)  # torchvision's 0/0 ...
  np.testing.assert_array_equal(ours[both_empty], 0.0)  # ... is 0 in cnnjax
  np.testing.assert_allclose(ours[~both_empty], theirs[~both_empty], rtol=0, atol=1e-6)


def test_box_iou_edge_cases():
  boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 6, 6], [0, 0, 10, 10], [5, 5, 5, 9], [7, 7, 7, 7]],
                   np.float32)
  iou = np.asarray(ops.box_iou(boxes, boxes))
  assert iou[0, 1] == 0.0  # a shared edge is no overlap
  assert iou[0, 2] == pytest.approx(16 / 100)  # nested: the inner area over the outer
  assert iou[0, 3] == 1.0  # duplicates
  assert iou[4, 0] == 0.0 and iou[4, 4] == 0.0 and iou[4, 5] == 0.0  # zero-area boxes overlap nothing
  assert np.asarray(ops.box_iou(boxes[4:], boxes[4:], empty_iou=1.0)).tolist() == [[1, 1], [1, 1]]  # OpenCV's count


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_keeps_opencvs_indices(seed):
  rng = np.random.default_rng(seed)
  boxes, scores = _grid_boxes(rng, N), _tied_scores(rng, N)
  for iou_threshold in (0.3, 0.5, 0.7):
    for score_threshold in (0.0, 0.4):
      expected = _opencv_nms(boxes, scores, iou_threshold, score_threshold)
      kept = _kept(ops.nms(boxes, scores, iou_threshold, N, score_threshold))
      assert 10 < len(expected) < N
      np.testing.assert_array_equal(kept, expected)
  assert len(_kept(ops.nms(boxes, scores, 0.5, N))) == len(_opencv_nms(boxes, scores, 0.5))  # None: every score


def test_nms_zero_area_boxes():
  """OpenCV counts two zero-area boxes as IoU 1 (empty_iou=1.0 reproduces it); cnnjax's default keeps them all."""
  rng = np.random.default_rng(3)
  boxes, scores = _grid_boxes(rng, N, degenerate=0.2), _tied_scores(rng, N)
  expected = _opencv_nms(boxes, scores, 0.5)
  np.testing.assert_array_equal(_kept(ops.nms(boxes, scores, 0.5, N, 0.0, empty_iou=1.0)), expected)
  kept = _kept(ops.nms(boxes, scores, 0.5, N, 0.0))
  empty = np.asarray(ops.box_area(boxes)) == 0
  assert empty[expected].sum() == 1 and empty[kept].sum() > 5
  np.testing.assert_array_equal(kept[~empty[kept]], expected[~empty[expected]])


def test_nms_max_output_truncates():
  rng = np.random.default_rng(4)
  boxes, scores = _grid_boxes(rng, N), _tied_scores(rng, N)
  expected = _opencv_nms(boxes, scores, 0.5)
  indices, count = ops.nms(boxes, scores, 0.5, 10)
  assert int(count) == 10 and indices.shape == (10,)
  np.testing.assert_array_equal(indices, expected[:10])
  indices, count = ops.nms(boxes[:5], scores[:5], 0.5, 8)
  np.testing.assert_array_equal(indices[int(count):], -1)
  assert int(count) == len(_opencv_nms(boxes[:5], scores[:5], 0.5))


def test_nms_under_vmap_is_nms_per_image():
  rng = np.random.default_rng(10)
  boxes, scores = np.stack([_grid_boxes(rng, N) for _ in range(3)]), np.stack([_tied_scores(rng, N) for _ in range(3)])
  indices, counts = jax.vmap(lambda b, s: ops.nms(b, s, 0.5, 10))(boxes, scores)
  for image in range(3):
    np.testing.assert_array_equal(indices[image], _opencv_nms(boxes[image], scores[image], 0.5)[:10])
  np.testing.assert_array_equal(counts, 10)


def test_nms_larger_set_with_fractional_boxes():
  rng = np.random.default_rng(5)
  n = 2000
  corner, extent = rng.random((n, 2)) * 300, 5 + rng.random((n, 2)) * 60
  boxes = np.concatenate([corner, corner + extent], axis=1).astype(np.float32)
  boxes[rng.integers(0, n, 200)] = boxes[rng.integers(0, n, 200)]
  scores = _tied_scores(rng, n, levels=50)
  np.testing.assert_array_equal(_kept(ops.nms(boxes, scores, 0.5, n, 0.1)), _opencv_nms(boxes, scores, 0.5, 0.1))


def test_batched_nms_matches_opencv_batched():
  """Integer boxes: OpenCV's class offsets then shift coordinates exactly, so both compute the same IoUs."""
  rng = np.random.default_rng(6)
  boxes, scores = np.round(_grid_boxes(rng, N)), _tied_scores(rng, N)
  boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
  classes = rng.integers(0, 4, N)
  for iou_threshold in (0.3, 0.6):
    xywh = np.asarray(ops.xyxy_to_xywh(boxes), np.float64).tolist()
    expected = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores.tolist(), classes.tolist(), 0.2, iou_threshold))
    kept = _kept(ops.batched_nms(boxes, scores, classes, iou_threshold, N, 0.2))
    np.testing.assert_array_equal(kept, expected.reshape(-1))
    assert len(kept) > len(_kept(ops.nms(boxes, scores, iou_threshold, N, 0.2)))  # classes do not suppress


def test_batched_nms_is_per_class_nms():
  rng = np.random.default_rng(7)
  boxes, scores, classes = _grid_boxes(rng, N) + 0.25 * rng.random((N, 4)).astype(np.float32), \
      _tied_scores(rng, N), rng.integers(0, 3, N)
  boxes[:, 2:] += 0.5
  per_class = [np.flatnonzero(classes == c)[_opencv_nms(boxes[classes == c], scores[classes == c], 0.5)]
               for c in range(3)]
  merged = np.concatenate(per_class)
  expected = merged[np.lexsort((merged, -scores[merged]))]  # by score, ties by index
  np.testing.assert_array_equal(_kept(ops.batched_nms(boxes, scores, classes, 0.5, N)), expected)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_match_torchvision_box_coder(weights):
  torch = import_torch()
  import_torchvision()
  from torchvision.models.detection._utils import BoxCoder
  rng = np.random.default_rng(8)
  reference = _grid_boxes(rng, 64) + np.array([0, 0, 1, 1], np.float32)  # positive sizes
  boxes = _grid_boxes(rng, 64) + np.array([0, 0, 1, 1], np.float32)
  coder = BoxCoder(weights)
  theirs = coder.encode_single(torch.from_numpy(boxes), torch.from_numpy(reference)).numpy()
  deltas = np.asarray(ops.encode(boxes, reference, weights))
  np.testing.assert_allclose(deltas, theirs, rtol=1e-5, atol=1e-6)
  wild = deltas + rng.normal(0, 2, deltas.shape).astype(np.float32) * np.array([1, 1, 5, 5], np.float32) * weights
  assert (wild[:, 2:] / np.array(weights[2:]) > ops.DEFAULT_SCALE_CLIP).any()  # the clamp is exercised
  decoded = coder.decode_single(torch.from_numpy(wild), torch.from_numpy(reference)).numpy()
  np.testing.assert_allclose(ops.decode(wild, reference, weights), decoded, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(ops.decode(deltas, reference, weights), boxes, rtol=1e-5, atol=1e-4)


def test_match_matches_torchvision_matcher():
  torch = import_torch()
  import_torchvision()
  from torchvision.models.detection._utils import Matcher
  rng = np.random.default_rng(9)
  predictions, gt = _grid_boxes(rng, 150), _grid_boxes(rng, 12)
  predictions[:10] = gt[rng.integers(0, 12, 10)]  # exact hits, and ties where gt has duplicates
  gt_valid = np.ones(12, bool)
  gt_valid[[3, 7, 11]] = False
  iou = np.array(ops.box_iou(predictions, gt))
  iou[10:15] = 0.0
  iou[[10, 11, 12, 13], [0, 0, 4, 4]] = 0.5, 0.4, 0.7, 0.3  # exactly on the thresholds
  iou[14, [1, 2, 3, 5]] = 0.6, 0.8, 0.9, 0.8  # a tie (the lower index wins), a better padding column (3)
  for high, low in ((0.5, 0.4), (0.7, 0.3), (0.5, 0.5)):
    gt_index, max_iou, label = (np.asarray(a) for a in ops.match(iou, gt_valid, high, low))
    valid_columns = np.flatnonzero(gt_valid)
    theirs = Matcher(high, low, allow_low_quality_matches=False)(torch.from_numpy(iou[:, gt_valid].T)).numpy()
    np.testing.assert_array_equal(label, np.select([theirs >= 0, theirs == -1], [1, 0], -1))
    np.testing.assert_array_equal(gt_index[label == 1], valid_columns[theirs[label == 1]])
    np.testing.assert_array_equal(max_iou, iou[:, gt_valid].max(axis=1))
    assert gt_index[14] == 2 and max_iou[14] == np.float32(0.8)
    assert set(np.unique(label)) == ({0, 1} if high == low else {-1, 0, 1})
  gt_index, max_iou, label = ops.match(iou, np.zeros(12, bool), 0.5, 0.4)  # only padding: all background
  assert not np.asarray(label).any() and not np.asarray(max_iou).any() and not np.asarray(gt_index).any()
