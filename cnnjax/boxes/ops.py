"""Box operations as pure JAX functions: areas, IoU, greedy NMS (plain and class-wise), R-CNN box coding, matching.

Boxes are float [..., 4] = [x0, y0, x1, y1] in pixels with x1/y1 the right/bottom edges (width = x1 - x0, no +1),
as torchvision and pycocotools measure them. Every function is jit-able with fixed-size outputs, so detectors can
call them inside a compiled step; the references they are tested against are torchvision (IoU, coding, matching)
and OpenCV's cv2.dnn.NMSBoxes (NMS: torchvision's NMS kernel is not in the CPU build of torch).
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

# torchvision's bbox_xform_clip: decode never lets a box grow more than 1000/16 times in a step.
DEFAULT_SCALE_CLIP = math.log(1000.0 / 16)


def box_area(boxes: jax.Array) -> jax.Array:
  """Area of each box: [..., 4] -> [...]; zero-width or zero-height boxes have area 0."""
  return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def clip_boxes(boxes: jax.Array, height, width) -> jax.Array:
  """Boxes clipped to an image of height x width pixels: x into [0, width], y into [0, height]; [..., 4] -> [..., 4]."""
  x = jnp.clip(boxes[..., 0::2], 0, width)
  y = jnp.clip(boxes[..., 1::2], 0, height)
  return jnp.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)


def xyxy_to_xywh(boxes: jax.Array) -> jax.Array:
  """[x0, y0, x1, y1] -> [x0, y0, width, height] (COCO's and OpenCV's layout); [..., 4] -> [..., 4]."""
  return jnp.concatenate([boxes[..., :2], boxes[..., 2:] - boxes[..., :2]], axis=-1)


def xywh_to_xyxy(boxes: jax.Array) -> jax.Array:
  """[x0, y0, width, height] -> [x0, y0, x1, y1]; [..., 4] -> [..., 4]."""
  return jnp.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], axis=-1)


@jax.jit
def box_iou(boxes1: jax.Array, boxes2: jax.Array, empty_iou: float = 0.0) -> jax.Array:
  """Pairwise intersection over union: [..., N, 4] x [..., M, 4] -> [..., N, M].

  Computed as torchvision.ops.box_iou does (inter / (area1 + area2 - inter)). Where the union is empty (two
  zero-area boxes) torchvision gives 0/0 = NaN; cnnjax gives `empty_iou`, 0 by default (boxes without area
  overlap nothing, as pycocotools counts them). OpenCV's NMS counts such a pair as 1 (`empty_iou=1.0`).
  """
  area1 = box_area(boxes1)[..., :, None]
  area2 = box_area(boxes2)[..., None, :]
  top_left = jnp.maximum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
  bottom_right = jnp.minimum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
  size = jnp.clip(bottom_right - top_left, min=0)
  inter = size[..., 0] * size[..., 1]
  union = area1 + area2 - inter
  nonempty = union > 0
  return jnp.where(nonempty, inter / jnp.where(nonempty, union, 1), jnp.asarray(empty_iou, inter.dtype))


def _greedy_suppression(overlap: jax.Array, scores: jax.Array, iou_threshold, max_output: int, score_threshold):
  """Greedy NMS on a precomputed overlap matrix [N, N]: (indices int32 [max_output] padded with -1, count int32).

  The candidates (score > score_threshold) are ranked by score, ties by index (a stable sort, as OpenCV's
  std::stable_sort); a candidate is kept unless its overlap with a kept, higher-ranked box is > iou_threshold.
  """
  n = scores.shape[0]
  if n == 0 or max_output == 0:
    return jnp.full((max_output,), -1, jnp.int32), jnp.int32(0)
  order = jnp.argsort(-scores + 0.0, stable=True)  # + 0.0 makes -0.0 equal to 0.0 for the sort
  ranked_scores = scores[order]
  candidate = ~jnp.isnan(ranked_scores) if score_threshold is None else ranked_scores > score_threshold
  suppresses = overlap[order][:, order] > iou_threshold

  def keep_next(state):
    i, keep, count = state
    kept = candidate[i] & ~jnp.any(suppresses[i] & keep)
    return i + 1, keep.at[i].set(kept), count + kept.astype(jnp.int32)

  def more(state):
    i, _, count = state
    return (i < n) & (count < max_output)

  _, keep, count = lax.while_loop(more, keep_next, (jnp.int32(0), jnp.zeros((n,), bool), jnp.int32(0)))
  ranks = jnp.nonzero(keep, size=max_output, fill_value=0)[0]
  indices = jnp.where(jnp.arange(max_output) < count, order[ranks], -1)
  return indices.astype(jnp.int32), count


@functools.partial(jax.jit, static_argnames=("max_output",))
def nms(boxes: jax.Array, scores: jax.Array, iou_threshold: float, max_output: int,
        score_threshold: float | None = None, empty_iou: float = 0.0):
  """Greedy non-maximum suppression: boxes [N, 4], scores [N] -> (indices int32 [max_output] (-1 padded), count).

  OpenCV's convention (cv2.dnn.NMSBoxes with eta=1): only scores > score_threshold take part (None: all but NaN),
  ranked by score with equal scores in index order; a box is suppressed when its IoU with a kept, higher-ranked
  box is > iou_threshold; indices come in rank order and stop after max_output. OpenCV counts two zero-area boxes
  as IoU 1 (only the first of all zero-area boxes survives); cnnjax as `empty_iou` (0: they never suppress each
  other, as torchvision's kernel, whose 0/0 is NaN, keeps them). IoUs are float32 (OpenCV's are double, then float),
  so the two can differ only for an IoU within float32 rounding of the threshold. O(N^2) memory for the IoU matrix;
  vmap it over images.
  """
  overlap = box_iou(boxes, boxes, empty_iou=empty_iou)
  return _greedy_suppression(overlap, scores, iou_threshold, max_output, score_threshold)


@functools.partial(jax.jit, static_argnames=("max_output",))
def batched_nms(boxes: jax.Array, scores: jax.Array, classes: jax.Array, iou_threshold: float, max_output: int,
                score_threshold: float | None = None, empty_iou: float = 0.0):
  """Class-wise NMS: boxes of different classes never suppress each other; otherwise exactly `nms`.

  A class mask on the IoU matrix rather than torchvision's coordinate offsets (offsets large enough to separate
  classes cost float precision). Same results as cv2.dnn.NMSBoxesBatched (except that OpenCV's offsets leave
  zero-area boxes of different classes at IoU 1 for each other). (indices int32 [max_output], count int32).
  """
  same_class = classes[:, None] == classes[None, :]
  overlap = jnp.where(same_class, box_iou(boxes, boxes, empty_iou=empty_iou), 0.0)
  return _greedy_suppression(overlap, scores, iou_threshold, max_output, score_threshold)


def _centres_and_sizes(boxes: jax.Array):
  width = boxes[..., 2] - boxes[..., 0]
  height = boxes[..., 3] - boxes[..., 1]
  return boxes[..., 0] + 0.5 * width, boxes[..., 1] + 0.5 * height, width, height


def encode(boxes: jax.Array, reference: jax.Array, weights=(1.0, 1.0, 1.0, 1.0)) -> jax.Array:
  """Regression targets of `boxes` relative to `reference` boxes (anchors, proposals): [..., 4] -> deltas [..., 4].

  The R-CNN parametrisation (Girshick et al. 2014, appendix C): dx = wx (gx - px) / pw on the centres,
  dw = ww log(gw / pw); torchvision's BoxCoder.encode_single(boxes, reference) with the same weights.
  """
  wx, wy, ww, wh = weights
  px, py, pw, ph = _centres_and_sizes(reference)
  gx, gy, gw, gh = _centres_and_sizes(boxes)
  return jnp.stack([wx * (gx - px) / pw, wy * (gy - py) / ph,
                    ww * jnp.log(gw / pw), wh * jnp.log(gh / ph)], axis=-1)


def decode(deltas: jax.Array, reference: jax.Array, weights=(1.0, 1.0, 1.0, 1.0),
           scale_clip: float = DEFAULT_SCALE_CLIP) -> jax.Array:
  """Boxes from regression deltas relative to `reference` boxes (the inverse of encode): [..., 4] -> [..., 4].

  dw and dh are clamped above at `scale_clip` (log(1000/16), as torchvision's BoxCoder.decode_single) so an
  untrained regressor cannot overflow exp.
  """
  wx, wy, ww, wh = weights
  px, py, pw, ph = _centres_and_sizes(reference)
  dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
  dw = jnp.minimum(deltas[..., 2] / ww, scale_clip)
  dh = jnp.minimum(deltas[..., 3] / wh, scale_clip)
  cx, cy = dx * pw + px, dy * ph + py
  half_w, half_h = 0.5 * jnp.exp(dw) * pw, 0.5 * jnp.exp(dh) * ph
  return jnp.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)


def match(iou: jax.Array, gt_valid: jax.Array, high: float, low: float):
  """Each prediction's best ground truth: iou [P, G], gt_valid bool [G] -> (gt_index, max_iou, label), each [P].

  label is 1 (foreground: max IoU >= high), 0 (background: max IoU < low) or -1 (in between: ignored in the
  loss), as torchvision's Matcher(high, low, allow_low_quality_matches=False). Invalid (padding) GT columns never
  match; ties go to the lower GT index. Without any valid GT a prediction is background with gt_index 0 and
  max_iou 0, so gt_index is always a safe gather index: read it through label.
  """
  if isinstance(high, (int, float)) and isinstance(low, (int, float)) and high < low:
    raise ValueError(f"match needs low <= high; got low={low}, high={high}")
  num_predictions, num_gt = iou.shape
  if num_gt == 0:
    zeros = jnp.zeros((num_predictions,), jnp.int32)
    return zeros, jnp.zeros((num_predictions,), iou.dtype), zeros
  quality = jnp.where(gt_valid[None, :], iou, -jnp.inf)
  gt_index = jnp.argmax(quality, axis=1).astype(jnp.int32)
  max_iou = jnp.where(jnp.any(gt_valid), jnp.max(quality, axis=1), 0.0).astype(iou.dtype)
  label = jnp.where(max_iou >= high, 1, jnp.where(max_iou < low, 0, -1)).astype(jnp.int32)
  return gt_index, max_iou, label
