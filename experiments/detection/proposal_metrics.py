"""Shared by the proposal experiments: IoU in numpy, both sides' proposals timed, recall/MABO against ground truth,
and the results README generated from the JSON files.

Boxes are [x0, y0, x1, y1] in pixels, x1 / y1 exclusive, everywhere.
"""

import json
import time
from pathlib import Path

import numpy as np

OUT = Path("results/detection/proposals")
# Uijlings et al., IJCV 2013, Table 5 (PASCAL VOC 2007 test): mean average best overlap and boxes per image.
PAPER = {"fast": {"mabo": 0.804, "boxes": "about 2,100"}, "quality": {"mabo": 0.879, "boxes": "about 10,100"}}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Pairwise IoU of boxes a [N, 4] and b [M, 4] -> [N, M]."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  lo = np.maximum(a[:, None, :2], b[None, :, :2])
  hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
  inter = np.prod(np.clip(hi - lo, 0, None), -1)
  area_a, area_b = np.prod(a[:, 2:] - a[:, :2], -1), np.prod(b[:, 2:] - b[:, :2], -1)
  return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-12)


def best_iou_both_ways(a: np.ndarray, b: np.ndarray, chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
  """For each box of a its best IoU with b [N], and for each box of b its best with a [M] (in row chunks)."""
  best_a, best_b = np.zeros(len(a)), np.zeros(len(b))
  for start in range(0, len(a), chunk):
    iou = box_iou(a[start:start + chunk], b)
    best_a[start:start + chunk] = iou.max(1)
    best_b = np.maximum(best_b, iou.max(0))
  return best_a, best_b


def opencv_proposals(image: np.ndarray, mode: str) -> tuple[np.ndarray, float]:
  """OpenCV's selective search (ximgproc, switchToSelectiveSearchFast / Quality with their defaults) on an RGB or
  grey uint8 image, one thread -> (boxes [K, 4], seconds)."""
  import cv2
  cv2.setNumThreads(1)
  image = np.asarray(image)
  image = np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image
  image = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image
  search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
  search.setBaseImage(np.ascontiguousarray(image[..., ::-1]))
  {"fast": search.switchToSelectiveSearchFast, "quality": search.switchToSelectiveSearchQuality}[mode]()
  start = time.perf_counter()
  xywh = search.process()
  seconds = time.perf_counter() - start
  xywh = np.asarray(xywh, np.int64).reshape(-1, 4)
  return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1), seconds


def our_proposals(image: np.ndarray, mode) -> tuple[np.ndarray, float]:
  """cnnjax's selective search (seed 0; mode a name or a selective_search.Strategy) -> (boxes [K, 4], seconds)."""
  from cnnjax.segmentation.selective_search import selective_search
  start = time.perf_counter()
  boxes = selective_search(image, mode)
  return boxes.astype(np.int64), time.perf_counter() - start


SIDES = {"cnnjax": our_proposals, "opencv": opencv_proposals}


def best_overlaps(truth: np.ndarray, proposals: np.ndarray) -> np.ndarray:
  """For each ground-truth box [G, 4], its best IoU among the first n proposals, for n = 1..K -> [G, K]."""
  if len(proposals) == 0:
    return np.zeros((len(truth), 1))
  return np.maximum.accumulate(box_iou(truth, proposals), axis=1)


def recall_curve(overlaps: list[np.ndarray], counts: list[int]) -> dict:
  """Recall at IoU 0.5 and 0.7 and MABO (mean over all ground-truth boxes of the best IoU) for the first n
  proposals, n in `counts`; `overlaps` are best_overlaps of each image (an image with fewer proposals keeps all)."""
  def at(n):
    return np.concatenate([o[:, min(n, o.shape[1]) - 1] for o in overlaps])
  rows = {n: at(n) for n in counts}
  return {"n": counts,
          "recall_0.5": [float((rows[n] >= 0.5).mean()) for n in counts],
          "recall_0.7": [float((rows[n] >= 0.7).mean()) for n in counts],
          "mabo": [float(rows[n].mean()) for n in counts]}


def write_readme(out: Path = OUT) -> None:
  """results/detection/proposals/README.md from opencv.json and recall.json (whichever exist)."""
  lines = ["# Selective search: cnnjax against OpenCV, and proposal recall on Fashion-MNIST scenes", "",
           "Generated from the JSON files here by the scripts named below (do not edit by hand). Boxes are "
           "[x0, y0, x1, y1] in pixels; both sides run on one CPU thread of a shared 2-core machine, so the seconds "
           "are slower than on an idle one.", ""]
  if (out / "opencv.json").exists():
    lines += _opencv_table(json.loads((out / "opencv.json").read_text()))
  if (out / "recall.json").exists():
    lines += _recall_table(json.loads((out / "recall.json").read_text()))
  (out / "README.md").write_text("\n".join(lines) + "\n")


def _opencv_table(r: dict) -> list[str]:
  lines = ["## Against OpenCV's selective search on real photos", "",
           f"`{r['command']}`", "",
           "OpenCV: `cv2.ximgproc.segmentation` (opencv-contrib " + r["opencv_version"] + "), "
           "switchToSelectiveSearchFast / Quality with their defaults (HSV + Lab, k = 150, 300, 450; quality: 5 colour "
           "spaces, k = 150 ... 750; min_size 100; neighbours through the left, upper and upper-left pixels; ranked "
           "by merge level x random, lowest first), while cnnjax follows the paper (fast: k = 50, 100; quality: "
           "k = 50, 100, 150, 300; min_size = k). "
           "*fast_opencv_k* is cnnjax's fast mode with OpenCV's k and min_size, against OpenCV's fast. *matched* is "
           "the fraction of one side's boxes that the other side has a box for at IoU >= 0.7.", "",
           "| image | size | mode | cnnjax boxes | OpenCV boxes | cnnjax matched by OpenCV | OpenCV matched by cnnjax "
           "| cnnjax s | OpenCV s |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
  for row in r["rows"]:
    lines.append(f"| {row['image']} | {row['width']}x{row['height']} | {row['mode']} | {row['cnnjax_boxes']} | "
                 f"{row['opencv_boxes']} | {row['cnnjax_matched']:.3f} | {row['opencv_matched']:.3f} | "
                 f"{row['cnnjax_seconds']:.1f} | {row['opencv_seconds']:.1f} |")
  lines += ["", "Mean over the photos:", "", "| mode | cnnjax boxes | OpenCV boxes | cnnjax matched | OpenCV matched | "
            "cnnjax s | OpenCV s | paper (VOC 2007): boxes per image, MABO |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
  for mode, m in r["means"].items():
    paper = PAPER.get(mode, {})
    lines.append(f"| {mode} | {m['cnnjax_boxes']:.0f} | {m['opencv_boxes']:.0f} | {m['cnnjax_matched']:.3f} | "
                 f"{m['opencv_matched']:.3f} | {m['cnnjax_seconds']:.1f} | {m['opencv_seconds']:.1f} | "
                 f"{paper.get('boxes', '-')}, {paper.get('mabo', '-')} |")
  return lines + [""]


def _recall_table(r: dict) -> list[str]:
  lines = ["## Recall and MABO against ground-truth garment boxes", "",
           f"`{r['command']}`", "",
           r["description"], "", f"![recall and MABO]({r['figure']})", "",
           "| scenes | side | mode | boxes per scene | s per scene | " +
           " | ".join(f"MABO@{n}" for n in r["table_n"]) + " | recall@0.5 (all) | recall@0.7 (all) | MABO (all) |",
           "|---|---|---|---:|---:|" + "---:|" * (len(r["table_n"]) + 3)]
  for key, c in r["curves"].items():
    at = dict(zip(c["n"], c["mabo"]))
    lines.append(f"| {c['scenes']} | {c['side']} | {c['mode']} | {c['boxes_per_scene']:.0f} | "
                 f"{c['seconds_per_scene']:.3f} | " + " | ".join(f"{at[n]:.3f}" for n in r["table_n"]) +
                 f" | {c['all']['recall_0.5']:.3f} | {c['all']['recall_0.7']:.3f} | {c['all']['mabo']:.3f} |")
  lines += ["", f"The paper's figures for comparison (PASCAL VOC 2007, MABO): fast {PAPER['fast']['mabo']} with "
            f"{PAPER['fast']['boxes']} boxes per image, quality {PAPER['quality']['mabo']} with "
            f"{PAPER['quality']['boxes']}.", ""]
  return lines
