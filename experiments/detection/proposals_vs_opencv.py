"""cnnjax's selective search against OpenCV's (cv2.ximgproc.segmentation) on real photos available offline.

    PYTHONPATH=. python experiments/detection/proposals_vs_opencv.py

For scikit-learn's china and flower and scikit-image's astronaut, coffee and chelsea, in the fast and quality
modes: the number of proposals of each side, the fraction of each side's boxes that the other side matches at
IoU >= 0.7, and the seconds each took (one thread each). A third setting, fast_opencv_k, runs cnnjax's fast
mode with OpenCV's fast diversification (k = 150, 300, 450 and min_size 100 instead of the paper's k = 50, 100
and min_size = k) against OpenCV's fast, to show how much of the difference the thresholds make.
Writes results/detection/proposals/opencv.json and the README.md beside it.
"""

import json

import numpy as np

from cnnjax.segmentation.selective_search import Strategy
from experiments.detection.proposal_metrics import (OUT, best_iou_both_ways, opencv_proposals, our_proposals,
                                                    write_readme)

COMMAND = "PYTHONPATH=. python experiments/detection/proposals_vs_opencv.py"
MATCH_IOU = 0.7
# Our setting -> (what cnnjax runs, what OpenCV runs).
MODES = {"fast": ("fast", "fast"), "quality": ("quality", "quality"),
         "fast_opencv_k": (Strategy(("hsv", "lab"), (150, 300, 450), ("CTSF", "TSF"), min_size=100), "fast")}


def photos() -> dict[str, np.ndarray]:
  from skimage import data
  from sklearn.datasets import load_sample_images
  china, flower = load_sample_images().images
  return {"china": china, "flower": flower, "astronaut": data.astronaut(), "coffee": data.coffee(),
          "chelsea": data.chelsea()}


def compare(name: str, image: np.ndarray, mode: str) -> dict:
  """One row: both sides' proposals on `image` in `mode`, and how much of each the other covers."""
  ours, our_seconds = our_proposals(image, MODES[mode][0])
  theirs, their_seconds = opencv_proposals(image, MODES[mode][1])
  best_ours, best_theirs = best_iou_both_ways(ours, theirs)
  return {"image": name, "height": image.shape[0], "width": image.shape[1], "mode": mode,
          "cnnjax_boxes": len(ours), "opencv_boxes": len(theirs),
          "cnnjax_matched": float((best_ours >= MATCH_IOU).mean()),
          "opencv_matched": float((best_theirs >= MATCH_IOU).mean()),
          "cnnjax_seconds": round(our_seconds, 2), "opencv_seconds": round(their_seconds, 2)}


def main() -> None:
  import cv2

  from cnnjax.train.environment import describe_environment
  OUT.mkdir(parents=True, exist_ok=True)
  rows = []
  for name, image in photos().items():
    for mode in MODES:
      rows.append(compare(name, image, mode))
      print(json.dumps(rows[-1]), flush=True)
  keys = ("cnnjax_boxes", "opencv_boxes", "cnnjax_matched", "opencv_matched", "cnnjax_seconds", "opencv_seconds")
  means = {mode: {k: float(np.mean([r[k] for r in rows if r["mode"] == mode])) for k in keys} for mode in MODES}
  results = {"command": COMMAND, "match_iou": MATCH_IOU, "opencv_version": cv2.__version__, "rows": rows,
             "means": means, "environment": describe_environment()}
  (OUT / "opencv.json").write_text(json.dumps(results, indent=2) + "\n")
  write_readme()


if __name__ == "__main__":
  main()
