"""Detection mAP by the COCO protocol, computed by pycocotools itself (never by hand-written matching).

Why pycocotools: its greedy matching, crowd handling, area ranges and 101-point interpolated precision are the
protocol; a re-implementation would be a second, untested definition of the numbers the README reports.
"""

import contextlib
import io

import numpy as np

# pycocotools is imported where it is used, so that classification-only installs (the accelerator image has
# no pycocotools) can import the task registry, which names the detection task.

# COCOeval.stats in its own order: AP over IoU .5:.95 (all, .5, .75, small, medium, large areas), then AR at
# 1, 10 and max_detections detections per image, then AR by area at max_detections.
_STATS_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
                "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


def coco_stats_names() -> tuple[str, ...]:
  """Names of pycocotools' 12 summary numbers (COCOeval.stats) in their order, as evaluate's keys.

  Areas are COCO's: small < 32^2 <= medium < 96^2 <= large pixels. "ar100" is AR at `max_detections` (100 by default).
  """
  return _STATS_NAMES


def _boxes(entry: dict, image: int, field: str) -> np.ndarray:
  boxes = np.asarray(entry.get("boxes", []), np.float64)
  if boxes.size == 0:
    return np.zeros((0, 4))
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(f"{field}[{image}]['boxes'] has shape {boxes.shape}; give [n, 4] boxes as [x0, y0, x1, y1]")
  return boxes


def _classes(entry: dict, image: int, field: str, count: int, num_classes: int) -> np.ndarray:
  classes = np.asarray(entry.get("classes", []), np.int64).reshape(-1)
  if classes.shape[0] != count:
    raise ValueError(f"{field}[{image}] has {count} boxes but {classes.shape[0]} classes; give one class per box")
  if classes.size and (classes.min() < 0 or classes.max() >= num_classes):
    raise ValueError(f"{field}[{image}]['classes'] holds {classes.min()}..{classes.max()}; "
                     f"classes are 0-based indices into the {num_classes} class names")
  return classes


def _xywh(box: np.ndarray) -> list[float]:
  return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]


def _ground_truth_dataset(ground_truth, class_names) -> dict:
  """The COCO dataset dict: image ids 1.., category id = class + 1, annotation ids 1.. (pycocotools reads id 0 as
  'unmatched'), area = the box's area (COCO's area is the segment's; boxes are all there is), iscrowd 0."""
  annotations = []
  for image, entry in enumerate(ground_truth):
    boxes = _boxes(entry, image, "ground_truth")
    classes = _classes(entry, image, "ground_truth", len(boxes), len(class_names))
    for box, cls in zip(boxes, classes):
      annotations.append({"id": len(annotations) + 1, "image_id": image + 1, "category_id": int(cls) + 1,
                          "bbox": _xywh(box), "area": float((box[2] - box[0]) * (box[3] - box[1])), "iscrowd": 0})
  return {"images": [{"id": image + 1} for image in range(len(ground_truth))],
          "categories": [{"id": k + 1, "name": str(name)} for k, name in enumerate(class_names)],
          "annotations": annotations}


def _results(detections, num_classes: int) -> list[dict]:
  results = []
  for image, entry in enumerate(detections):
    boxes = _boxes(entry, image, "detections")
    classes = _classes(entry, image, "detections", len(boxes), num_classes)
    scores = np.asarray(entry.get("scores", []), np.float64).reshape(-1)
    if scores.shape[0] != len(boxes):
      raise ValueError(f"detections[{image}] has {len(boxes)} boxes but {scores.shape[0]} scores; give one per box")
    results += [{"image_id": image + 1, "category_id": int(cls) + 1, "bbox": _xywh(box), "score": float(score)}
                for box, cls, score in zip(boxes, classes, scores)]
  return results


def _coco(dataset: dict):
  from pycocotools.coco import COCO  # pylint: disable=import-outside-toplevel
  coco = COCO()
  coco.dataset = dataset
  coco.createIndex()
  return coco


def _mean_precision(precision: np.ndarray) -> float | None:
  """pycocotools' summary of a slice of its precision array: the mean over entries > -1, None if there are none."""
  valid = precision[precision > -1]
  return float(valid.mean()) if valid.size else None


def evaluate(ground_truth, detections, class_names, max_detections: int = 100) -> dict:
  """COCO-protocol box mAP of `detections` against `ground_truth`, one entry per image in the same order.

  ground_truth[i] = {"boxes": [n, 4] xyxy pixels, "classes": [n] 0-based}; detections[i] adds "scores": [k].
  Returns coco_stats_names() as floats plus per_class_ap (AP@[.5:.95]) and per_class_ap50 by class name;
  pycocotools' -1 ("no ground truth of this kind") becomes None. Images without boxes on either side count.
  """
  if len(ground_truth) != len(detections):
    raise ValueError(f"{len(ground_truth)} ground-truth images but {len(detections)} detection images; "
                     "give one detections entry per image, in the same order")
  if max_detections < 1:
    raise ValueError(f"max_detections={max_detections}; give at least 1")
  with contextlib.redirect_stdout(io.StringIO()):
    coco_gt = _coco(_ground_truth_dataset(ground_truth, class_names))
    results = _results(detections, len(class_names))
    if results:
      coco_dt = coco_gt.loadRes(results)
    else:  # loadRes reads results[0]; no detections at all is an empty result set
      coco_dt = _coco({"images": coco_gt.dataset["images"], "categories": coco_gt.dataset["categories"],
                       "annotations": []})
    from pycocotools.cocoeval import COCOeval  # pylint: disable=import-outside-toplevel
    evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
    evaluator.params.maxDets = [1, 10, max_detections]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  metrics = {name: (None if value == -1 else float(value)) for name, value in zip(_STATS_NAMES, evaluator.stats)}
  precision = evaluator.eval["precision"]  # [IoU thresholds, recall points, classes, area ranges, max dets]
  at_50 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.5)))
  metrics["per_class_ap"] = {str(name): _mean_precision(precision[:, :, k, 0, -1])
                             for k, name in enumerate(class_names)}
  metrics["per_class_ap50"] = {str(name): _mean_precision(precision[at_50, :, k, 0, -1])
                               for k, name in enumerate(class_names)}
  return metrics
