"""Selective search: from a segmentation's regions to object proposals.

Why: the lecture's segmentation part ends in selective search (Uijlings et al., IJCV 2013):
Felzenszwalb-Huttenlocher regions are merged by colour, texture, size and fill similarity until one
region is left, every region formed is a box proposal, and diversification (colour spaces, k, similarity
strategies) buys recall. Figures: one hierarchy at a few levels, and the best-ranked proposals of the
fast and quality modes, on scikit-learn's china photo shrunk to 320 pixels wide.
"""

import time
from pathlib import Path

import numpy as np

from cnnjax.lecture import plotting
from cnnjax.segmentation import overlay
from cnnjax.segmentation import selective_search as ss

WIDTH = 320
COLOUR_SPACE, K, STRATEGY = "hsv", 100, "CTSF"
LEVELS = (100, 30, 10, 3)  # regions left
SHOWN = 30                 # best-ranked proposals drawn


def photo() -> np.ndarray:
  """scikit-learn's china.jpg shrunk to WIDTH pixels wide (Lanczos) -> uint8 [H, W, 3]."""
  from PIL import Image
  from sklearn.datasets import load_sample_images
  image = Image.fromarray(load_sample_images().images[0])
  return np.asarray(image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.Resampling.LANCZOS))


def level_boxes(h, labels: np.ndarray) -> np.ndarray:
  """The boxes [R, 4] of the regions of a partition `labels` [H, W] (numbered 0..R-1)."""
  from cnnjax.segmentation.region_features import region_boxes
  return region_boxes(labels, int(labels.max()) + 1)


def _hierarchy_figure(out: Path, image: np.ndarray, h) -> str:
  fig = plotting.new_figure(12, 5.2)
  axes = fig.subplots(2, 3).ravel()
  axes[0].imshow(image)
  axes[0].set_title("china.jpg", fontsize=8)
  panels = [(h.num_initial, f"{h.num_initial} initial regions (Felzenszwalb, k={K})")]
  panels += [(n, f"{n} regions left after {h.num_initial - n} merges") for n in LEVELS]
  for ax, (n, title) in zip(axes[1:], panels):
    labels = h.labels_at(n)
    shown = overlay.colour_overlay(image, labels, alpha=0.55)
    if n <= 10:
      shown = overlay.box_overlay(shown, level_boxes(h, labels), scale=2, width=3)
    ax.imshow(shown)
    ax.set_title(title + (" (their boxes drawn)" if n <= 10 else ""), fontsize=8)
  for ax in axes:
    ax.set_axis_off()
  fig.suptitle(f"one hierarchy: {COLOUR_SPACE.upper()}, similarity {STRATEGY} (colour + texture + size + fill)",
               fontsize=9)
  return plotting.save(fig, out, "selective_search_hierarchy.png")


def _proposals_figure(out: Path, image: np.ndarray, proposals: dict) -> str:
  fig = plotting.new_figure(12, 3.2)
  axes = fig.subplots(1, len(proposals))
  for ax, (mode, boxes) in zip(axes, proposals.items()):
    ax.imshow(overlay.box_overlay(image, boxes[:SHOWN], scale=2, width=2))
    ax.set_title(f"{mode}: best {SHOWN} of {len(boxes)} proposals", fontsize=8)
    ax.set_axis_off()
  return plotting.save(fig, out, "selective_search_proposals.png")


def run(out: Path) -> plotting.Section:
  image = photo()
  h = ss.hierarchy(image, COLOUR_SPACE, K, STRATEGY)
  proposals, seconds = {}, {}
  for mode in ss.MODES:
    start = time.perf_counter()
    proposals[mode] = ss.selective_search(image, mode)
    seconds[mode] = round(time.perf_counter() - start, 2)
  section = plotting.Section("12. Selective search: from regions to object proposals")
  section.figures = [
      (_hierarchy_figure(out, image, h),
       f"hierarchical grouping on china.jpg ({image.shape[1]}x{image.shape[0]}): starting from {h.num_initial} "
       "Felzenszwalb regions, the two most similar neighbours merge until one region is left; every region formed "
       f"is a proposal ({len(h.boxes)} boxes from this hierarchy)"),
      (_proposals_figure(out, image, proposals),
       "the best-ranked proposals of the paper's single, fast and quality settings (colour spaces x k x similarity "
       "strategies; each hierarchy's regions ranked by position times a random number, duplicates dropped): "
       + ", ".join(f"{mode} {len(b)} boxes" for mode, b in proposals.items())),
  ]
  section.numbers = {
      "image_size": [int(image.shape[0]), int(image.shape[1])],
      "hierarchy": {"colour_space": COLOUR_SPACE, "k": K, "strategy": STRATEGY, "initial_regions": h.num_initial,
                    "boxes": len(h.boxes), "levels": list(LEVELS),
                    "level_boxes": {str(n): level_boxes(h, h.labels_at(n)).tolist() for n in LEVELS if n <= 10}},
      "proposals": {mode: len(b) for mode, b in proposals.items()},
      "best_boxes": {mode: b[:5].tolist() for mode, b in proposals.items()},
      "seconds": seconds,
  }
  section.markdown = (
      "Selective search (Uijlings et al., IJCV 2013) as `cnnjax.segmentation.selective_search`; `cnnjax proposals "
      "IMAGE --mode fast|quality` draws and lists them. Its validation against OpenCV's implementation and its "
      "recall on the Fashion-MNIST detection scenes are in results/detection/proposals/.")
  return section
