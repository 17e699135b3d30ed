"""Box operations as pure JAX (IoU, NMS, class-wise NMS, R-CNN box coding, matching) and COCO-protocol
evaluation through pycocotools."""

from cnnjax.boxes.coco import coco_stats_names, evaluate
from cnnjax.boxes.ops import (DEFAULT_SCALE_CLIP, batched_nms, box_area, box_iou, clip_boxes, decode, encode, match,
                              nms, xywh_to_xyxy, xyxy_to_xywh)

__all__ = ["DEFAULT_SCALE_CLIP", "batched_nms", "box_area", "box_iou", "clip_boxes", "coco_stats_names", "decode",
           "encode", "evaluate", "match", "nms", "xywh_to_xyxy", "xyxy_to_xywh"]
