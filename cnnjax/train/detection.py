"""The detection task: each detector's training objective and decoding, and COCO-protocol evaluation.

Labels are the pipeline's padded objects, {"boxes": [N, M, 4] as [x0, y0, x1, y1] pixels, "classes": [N, M]
with -1 for padding}. A detector's objective (OBJECTIVES, chosen by config.detection.method) turns the
model's outputs into a loss and into fixed-size detections; evaluation collects every real image's
detections and ground truth and scores them with pycocotools (cnnjax.boxes.coco), never by hand.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax import boxes as box_ops
from cnnjax.boxes import coco


def _valid_objects(labels) -> jax.Array:
  return labels["classes"] >= 0


def gaussian_radius(height: jax.Array, width: jax.Array, min_overlap: float = 0.7) -> jax.Array:
  """CenterNet's heat-map radius (in cells) for a box of `height` x `width` cells: the largest corner shift that
  keeps IoU >= min_overlap, the smallest root of CornerNet's three quadratics (Law & Deng 2018)."""
  b1 = height + width
  c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
  r1 = (b1 + jnp.sqrt(b1 ** 2 - 4 * c1)) / 2
  b2 = 2 * (height + width)
  c2 = (1 - min_overlap) * width * height
  r2 = (b2 + jnp.sqrt(b2 ** 2 - 16 * c2)) / 2
  a3 = 4 * min_overlap
  b3 = -2 * min_overlap * (height + width)
  c3 = (min_overlap - 1) * width * height
  r3 = (b3 + jnp.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
  return jnp.minimum(jnp.minimum(r1, r2), r3)


class CenterNetObjective:
  """Zhou et al. 2019: focal loss on Gaussian heat maps, L1 on size and centre offset at each object's cell.

  Targets are computed inside the step from the padded boxes: object m of class k puts
  exp(-d^2 / 2 sigma^2) (sigma = (2r + 1) / 6, r the Gaussian radius, cut at r cells) around its centre's
  cell in map k, the maximum where objects overlap. Sizes are in cells (box / stride), weighted 0.1 as in
  the paper. Decoding keeps the `max_detections` highest 3x3 peaks over all classes.
  """

  def __init__(self, stride: int, size_weight: float = 0.1, offset_weight: float = 1.0, min_overlap: float = 0.7,
               max_detections: int = 100):
    self.stride = stride
    self.size_weight = size_weight
    self.offset_weight = offset_weight
    self.min_overlap = min_overlap
    self.max_detections = max_detections

  def model_inputs(self, batch: dict, train: bool) -> tuple:
    del train
    return (batch["image"],)

  def targets(self, labels, height: int, width: int, num_classes: int):
    """heat [N, h, w, K], centre cells int [N, M, 2] (x, y), size and offset targets [N, M, 2], valid [N, M]."""
    boxes = labels["boxes"].astype(jnp.float32) / self.stride
    valid = _valid_objects(labels)
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    cell = jnp.clip(jnp.floor(centre), 0, jnp.asarray([width - 1, height - 1], jnp.float32))
    size = boxes[..., 2:] - boxes[..., :2]
    radius = jnp.maximum(0.0, jnp.floor(gaussian_radius(size[..., 1], size[..., 0], self.min_overlap)))
    sigma = (2 * radius + 1) / 6
    dx = jnp.arange(width, dtype=jnp.float32)[None, None, None, :] - cell[..., 0, None, None]
    dy = jnp.arange(height, dtype=jnp.float32)[None, None, :, None] - cell[..., 1, None, None]
    inside = (jnp.abs(dx) <= radius[..., None, None]) & (jnp.abs(dy) <= radius[..., None, None])
    gauss = jnp.exp(-(dx ** 2 + dy ** 2) / (2 * sigma[..., None, None] ** 2)) * inside * valid[..., None, None]
    one_hot = jax.nn.one_hot(jnp.where(valid, labels["classes"], 0), num_classes) * valid[..., None]
    heat = jnp.max(gauss[..., None] * one_hot[:, :, None, None, :], axis=1)  # [N, h, w, K]
    return heat, cell.astype(jnp.int32), size, centre - cell, valid

  def loss(self, outputs, labels):
    logits = outputs["heatmap"]
    n, h, w, k = logits.shape
    heat, cell, size, offset, valid = self.targets(labels, h, w, k)
    positive = heat >= 1.0
    log_p, log_not_p = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    p = jax.nn.sigmoid(logits)
    focal = jnp.where(positive, (1 - p) ** 2 * log_p, (1 - heat) ** 4 * p ** 2 * log_not_p)
    num_objects = jnp.maximum(valid.sum(), 1.0)
    heatmap_loss = -focal.sum() / num_objects

    def at_cells(maps):  # [N, h, w, 2] -> [N, M, 2] at each object's centre cell
      return jax.vmap(lambda m, c: m[c[:, 1], c[:, 0]])(maps, cell)

    mask = valid[..., None].astype(jnp.float32)
    size_loss = jnp.sum(jnp.abs(at_cells(outputs["size"]) - size) * mask) / num_objects
    offset_loss = jnp.sum(jnp.abs(at_cells(outputs["offset"]) - offset) * mask) / num_objects
    loss = heatmap_loss + self.size_weight * size_loss + self.offset_weight * offset_loss
    return loss, {"loss": loss, "heatmap_loss": heatmap_loss, "size_loss": size_loss, "offset_loss": offset_loss}

  def detect(self, outputs):
    """boxes [N, D, 4] pixels, scores [N, D], classes [N, D]: the D highest 3x3 local maxima of the heat maps."""
    scores = jax.nn.sigmoid(outputs["heatmap"])
    n, h, w, k = scores.shape
    peaks = jax.lax.reduce_window(scores, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 1, 1, 1), "SAME")
    scores = jnp.where(scores == peaks, scores, 0.0)
    top, index = jax.lax.top_k(scores.reshape(n, -1), min(self.max_detections, h * w * k))
    cls = index % k
    cell = index // k
    y, x = cell // w, cell % w
    gather = jax.vmap(lambda m, i: m.reshape(h * w, 2)[i])
    size, offset = gather(outputs["size"], cell), gather(outputs["offset"], cell)
    centre = jnp.stack([x, y], -1) + offset
    half = jnp.maximum(size, 0.0) / 2
    pixels = jnp.concatenate([centre - half, centre + half], -1) * self.stride
    return box_ops.clip_boxes(pixels, h * self.stride, w * self.stride), top, cls.astype(jnp.int32)


class RCNNObjective:
  """Girshick et al. 2014 with its softmax classifier: proposals with IoU >= fg_iou to an object take its class,
  those below bg_iou are background (between: ignored); background is down-weighted to at most
  `background_ratio` times the foreground, the paper's 32 : 96 windows per batch; box deltas
  (cnnjax.boxes.encode, weights (10, 10, 5, 5)) get a smooth L1 on foreground proposals for their class.
  Training adds the ground-truth boxes to the proposals (the paper's positives). Decoding scores every
  (proposal, class), decodes its box, keeps the `pre_nms` best and applies class-wise NMS.
  """

  def __init__(self, fg_iou: float = 0.5, bg_iou: float = 0.5, background_ratio: float = 3.0,
               box_weight: float = 1.0, nms_iou: float = 0.3, pre_nms: int = 300, max_detections: int = 100,
               delta_weights=(10.0, 10.0, 5.0, 5.0)):
    self.fg_iou, self.bg_iou = fg_iou, bg_iou
    self.background_ratio = background_ratio
    self.box_weight = box_weight
    self.nms_iou = nms_iou
    self.pre_nms = pre_nms
    self.max_detections = max_detections
    self.delta_weights = tuple(delta_weights)

  def model_inputs(self, batch: dict, train: bool) -> tuple:
    proposals = batch["proposals"]
    if train:
      gt = jnp.where(_valid_objects(batch["label"])[..., None], batch["label"]["boxes"], 0.0)
      proposals = jnp.concatenate([proposals, gt.astype(proposals.dtype)], axis=1)
    return batch["image"], proposals

  def loss(self, outputs, labels):
    logits, deltas, proposals = outputs["class_logits"], outputs["box_deltas"], outputs["proposals"]
    k = deltas.shape[2]
    real = box_ops.box_area(proposals) > 0

    def assign(props, gt_boxes, gt_valid):
      iou = box_ops.box_iou(props, gt_boxes)
      return box_ops.match(iou, gt_valid, self.fg_iou, self.bg_iou)

    valid = _valid_objects(labels)
    gt_index, _, label = jax.vmap(assign)(proposals, labels["boxes"].astype(jnp.float32), valid)
    foreground = (label == 1) & real
    background = (label == 0) & real
    matched_class = jnp.take_along_axis(labels["classes"], gt_index, axis=1)
    target = jnp.where(foreground, matched_class + 1, 0)
    num_fg = foreground.sum()
    bg_weight = jnp.minimum(1.0, self.background_ratio * jnp.maximum(num_fg, 1) / jnp.maximum(background.sum(), 1))
    weights = foreground + background * bg_weight
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, target)
    class_loss = jnp.sum(ce * weights) / jnp.maximum(weights.sum(), 1.0)

    matched_boxes = jnp.take_along_axis(labels["boxes"].astype(jnp.float32), gt_index[..., None], axis=1)
    target_deltas = box_ops.encode(matched_boxes, proposals, self.delta_weights)
    own = jnp.take_along_axis(deltas, jnp.clip(target - 1, 0, k - 1)[..., None, None], axis=2)[:, :, 0]
    smooth = optax.huber_loss(own, target_deltas, delta=1.0).sum(-1)
    box_loss = jnp.sum(smooth * foreground) / jnp.maximum(num_fg, 1)
    loss = class_loss + self.box_weight * box_loss
    accuracy = jnp.sum((jnp.argmax(logits, -1) == target) * (foreground | background)) / jnp.maximum(
        (foreground | background).sum(), 1)
    return loss, {"loss": loss, "class_loss": class_loss, "box_loss": box_loss, "accuracy": accuracy,
                  "foreground_fraction": num_fg / jnp.maximum(real.sum(), 1)}

  def detect(self, outputs):
    probs = jax.nn.softmax(outputs["class_logits"], -1)[..., 1:]  # [N, P, K]
    proposals = outputs["proposals"]
    n, p, k = probs.shape
    real = box_ops.box_area(proposals) > 0
    boxes = box_ops.decode(outputs["box_deltas"], proposals[:, :, None, :], self.delta_weights)  # [N, P, K, 4]

    def one(image_boxes, image_scores, image_real):
      scores = jnp.where(image_real[:, None], image_scores, 0.0).reshape(-1)
      classes = jnp.tile(jnp.arange(k, dtype=jnp.int32), p)
      top, index = jax.lax.top_k(scores, min(self.pre_nms, p * k))
      candidates = image_boxes.reshape(-1, 4)[index]
      kept, _ = box_ops.batched_nms(candidates, top, classes[index], self.nms_iou, self.max_detections)
      ok = kept >= 0
      safe = jnp.where(ok, kept, 0)
      return (jnp.where(ok[:, None], candidates[safe], 0.0), jnp.where(ok, top[safe], 0.0),
              jnp.where(ok, classes[index][safe], -1))

    return jax.vmap(one)(boxes, probs, real)


class Detection:
  """Detection with `objective` (a CenterNetObjective or RCNNObjective); mAP by pycocotools over the split."""

  headline_metric = "map50"

  def __init__(self, objective, num_classes: int):
    self.objective = objective
    self.num_classes = num_classes

  def model_inputs(self, batch: dict, train: bool) -> tuple:
    return self.objective.model_inputs(batch, train)

  def loss(self, outputs, labels):
    return self.objective.loss(outputs, labels)

  def eval_sums(self, outputs, labels, mask) -> dict:
    """Not sums: every image's detections and ground truth, collected by `accumulate` for pycocotools."""
    boxes, scores, classes = self.objective.detect(outputs)
    return {"boxes": boxes, "scores": scores, "classes": classes, "gt_boxes": labels["boxes"],
            "gt_classes": labels["classes"], "mask": mask}

  @staticmethod
  def accumulate(collected, batch_outputs) -> list:
    """Appends the real images of one evaluation batch (host numpy) to `collected`."""
    outputs = jax.device_get(batch_outputs)
    real = np.asarray(outputs.pop("mask")) > 0
    collected = [] if collected is None else collected
    collected.append({k: np.asarray(v)[real] for k, v in outputs.items()})
    return collected

  def finalize(self, collected) -> dict:
    """COCO metrics (pycocotools) over every collected image; per-class AP under "per_class"."""
    merged = {k: np.concatenate([c[k] for c in collected]) for k in collected[0]}
    truth, found = [], []
    for i in range(len(merged["gt_classes"])):
      keep = merged["gt_classes"][i] >= 0
      truth.append({"boxes": merged["gt_boxes"][i][keep], "classes": merged["gt_classes"][i][keep]})
      real = merged["classes"][i] >= 0
      found.append({"boxes": merged["boxes"][i][real], "scores": merged["scores"][i][real],
                    "classes": merged["classes"][i][real]})
    names = [str(c) for c in range(self.num_classes)]
    metrics = coco.evaluate(truth, found, names, max_detections=self.objective.max_detections)
    per_class = {key: metrics.pop(key) for key in [k for k, v in metrics.items() if isinstance(v, dict)]}
    metrics["num_examples"] = len(truth)
    metrics["per_class"] = per_class
    return metrics


def _centernet(config):
  from cnnjax.models import get_model  # the model's stride (CenterNet.stride) decides the cells' size
  stride = config.model_kwargs.get("stride", get_model(config.model, num_classes=1).stride)
  return CenterNetObjective(stride=stride, max_detections=config.detection.max_detections)


def _rcnn(config):
  return RCNNObjective(nms_iou=config.detection.nms_iou, max_detections=config.detection.max_detections)


# config.detection.method -> the objective built from the config.
OBJECTIVES: dict[str, Callable] = {"centernet": _centernet, "rcnn": _rcnn}
