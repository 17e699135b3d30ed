"""Figures without pyplot's global state: a Figure per plot, saved small (dpi 80) into the report folder.

Why: the report is committed, so PNGs stay small, and no backend switch happens at import time.
"""

import dataclasses
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

DPI = 80


@dataclasses.dataclass
class Section:
  """One lecture section's output: title, (file name, one-line caption) per figure, numbers, extra Markdown."""

  title: str
  figures: list[tuple[str, str]] = dataclasses.field(default_factory=list)
  numbers: dict = dataclasses.field(default_factory=dict)
  markdown: str = ""


def new_figure(width: float, height: float) -> Figure:
  return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, out_dir: Path, name: str) -> str:
  """Writes `fig` as out_dir/name (PNG, dpi 80) and returns the file name for the index."""
  out_dir.mkdir(parents=True, exist_ok=True)
  fig.savefig(out_dir / name, dpi=DPI)
  return name


def grid(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A square n x n grid over [lo, hi]^2: (Z1, Z2, points [n*n, 2])."""
  axis = np.linspace(lo, hi, n)
  z1, z2 = np.meshgrid(axis, axis)
  return z1, z2, np.stack([z1.ravel(), z2.ravel()], axis=1)


def image_grid(fig: Figure, images, titles, cols: int, cmap: str = "gray", symmetric: bool = False):
  """Shows images [K, H, W] in a rows x cols grid of axes without ticks; returns the axes."""
  rows = -(-len(images) // cols)
  axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
  for ax in axes:
    ax.set_axis_off()
  for ax, image, title in zip(axes, images, titles):
    image = np.asarray(image)
    if symmetric:
      limit = float(np.abs(image).max()) or 1.0
      ax.imshow(image, cmap=cmap, vmin=-limit, vmax=limit)
    else:
      ax.imshow(image, cmap=cmap)
    ax.set_title(title, fontsize=8)
  return axes
