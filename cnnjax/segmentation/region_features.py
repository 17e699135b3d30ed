"""Selective search's region descriptors: colour spaces, colour and texture histograms, sizes, boxes, adjacency.

Why: Uijlings et al. (IJCV 2013) describe each region by a 25-bin-per-channel colour histogram and a
texture histogram (Gaussian derivatives, sigma 1, in 8 orientations per channel, 10 bins each), both
L1-normalised. The pixels' bin indices are computed once per colour space and every segmentation's
region histograms are then one np.bincount each, which is where the cost lies.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

COLOUR_BINS = 25
TEXTURE_BINS = 10
ORIENTATIONS = 8
TEXTURE_SIGMA = 1.0


def _rgb(rgb: np.ndarray) -> np.ndarray:
  return rgb


def _hsv(rgb: np.ndarray) -> np.ndarray:
  from skimage import color
  return color.rgb2hsv(rgb)


def _lab(rgb: np.ndarray) -> np.ndarray:
  """CIELAB scaled as OpenCV's 8-bit Lab: L / 100, (a + 128) / 255, (b + 128) / 255."""
  from skimage import color
  lab = color.rgb2lab(rgb)
  return np.clip(np.stack([lab[..., 0] / 100.0, (lab[..., 1] + 128.0) / 255.0, (lab[..., 2] + 128.0) / 255.0], -1),
                 0.0, 1.0)


def _rgi(rgb: np.ndarray) -> np.ndarray:
  """Normalised r = R / (R + G + B), g = G / (R + G + B) and intensity I = (R + G + B) / 3 (black: r = g = 1/3)."""
  total = rgb.sum(-1, keepdims=True)
  rg = np.where(total > 0, rgb[..., :2] / np.maximum(total, 1e-12), 1.0 / 3.0)
  return np.concatenate([rg, total / 3.0], -1)


def _hue(rgb: np.ndarray) -> np.ndarray:
  return _hsv(rgb)[..., :1]


def _intensity(rgb: np.ndarray) -> np.ndarray:
  from skimage import color
  return color.rgb2gray(rgb)[..., None]


# name -> rgb float [H, W, 3] in [0, 1] -> [H, W, C] in [0, 1]: the paper's colour spaces.
COLOUR_SPACES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rgb": _rgb, "hsv": _hsv, "lab": _lab, "rgi": _rgi, "h": _hue, "i": _intensity,
}


def as_rgb(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3], [H, W, 1] or [H, W] -> float64 RGB [H, W, 3] in [0, 1] (grey repeated over 3 channels)."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise ValueError(f"image of shape {image.shape}: give [H, W], [H, W, 1] or [H, W, 3] pixels")
  image = image[..., :3]
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, -1)
  scale = 255.0 if np.issubdtype(image.dtype, np.integer) else 1.0
  return image.astype(np.float64) / scale


def _bins(values: np.ndarray, count: int) -> np.ndarray:
  """Values in [0, 1] -> bin index in [0, count)."""
  return np.clip((values * count).astype(np.int64), 0, count - 1)


def texture_responses(channel: np.ndarray, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
  """The Gaussian-derivative (sigma) response of one channel [H, W] in 8 orientations theta = k * 45 degrees.

  The derivative along theta is cos(theta) dG/dx + sin(theta) dG/dy; each orientation keeps its positive part
  (theta and theta + 180 degrees see the two signs of one edge), so the 8 maps differ. -> [8, H, W] >= 0.
  """
  from scipy import ndimage
  dy = ndimage.gaussian_filter(channel, sigma, order=(1, 0))
  dx = ndimage.gaussian_filter(channel, sigma, order=(0, 1))
  angles = np.arange(ORIENTATIONS) * (2 * np.pi / ORIENTATIONS)
  return np.maximum(np.cos(angles)[:, None, None] * dx + np.sin(angles)[:, None, None] * dy, 0.0)


@dataclasses.dataclass(frozen=True)
class PixelBins:
  """Per-pixel histogram codes of one colour-space image: colour [P, C] in [0, C*25), texture [P, C*8] in [0, C*80)."""

  image: np.ndarray   # [H, W, C] in [0, 1], what the initial segmentation runs on
  colour: np.ndarray
  texture: np.ndarray

  @property
  def colour_size(self) -> int:
    return self.image.shape[-1] * COLOUR_BINS

  @property
  def texture_size(self) -> int:
    return self.image.shape[-1] * ORIENTATIONS * TEXTURE_BINS


def pixel_bins(image: np.ndarray) -> PixelBins:
  """Histogram codes of a colour-space image [H, W, C] in [0, 1]: 25 colour bins per channel, and per channel and
  orientation 10 bins of the texture response divided by its largest value in the image."""
  h, w, c = image.shape
  colour = _bins(image.reshape(h * w, c), COLOUR_BINS) + np.arange(c) * COLOUR_BINS
  maps = np.concatenate([texture_responses(image[..., i]) for i in range(c)])  # [C * 8, H, W]
  peak = np.maximum(maps.reshape(len(maps), -1).max(1), 1e-12)
  texture = _bins((maps / peak[:, None, None]).reshape(len(maps), -1).T, TEXTURE_BINS)
  texture = texture + np.arange(len(maps)) * TEXTURE_BINS
  return PixelBins(image, colour, texture)


def region_histograms(labels: np.ndarray, codes: np.ndarray, size: int, num_regions: int) -> np.ndarray:
  """L1-normalised histograms of `codes` [P, D] (values in [0, size)) per region of `labels` [H, W] -> [R, size]."""
  flat = (labels.reshape(-1, 1).astype(np.int64) * size + codes).ravel()
  counts = np.bincount(flat, minlength=num_regions * size).reshape(num_regions, size).astype(np.float64)
  return counts / np.maximum(counts.sum(1, keepdims=True), 1.0)


def region_boxes(labels: np.ndarray, num_regions: int) -> np.ndarray:
  """Bounding box [x0, y0, x1, y1] (x1, y1 exclusive) of each region of `labels` [H, W] -> int64 [R, 4]."""
  h, w = labels.shape
  rows, cols = np.broadcast_to(np.arange(h)[:, None], (h, w)).ravel(), np.broadcast_to(np.arange(w), (h, w)).ravel()
  flat = labels.ravel()
  boxes = np.tile(np.array([w, h, 0, 0], np.int64), (num_regions, 1))
  np.minimum.at(boxes[:, 0], flat, cols)
  np.minimum.at(boxes[:, 1], flat, rows)
  np.maximum.at(boxes[:, 2], flat, cols + 1)
  np.maximum.at(boxes[:, 3], flat, rows + 1)
  return boxes


def adjacent_pairs(labels: np.ndarray) -> np.ndarray:
  """Pairs (a < b) of regions of `labels` [H, W] that touch horizontally or vertically -> int64 [E, 2]."""
  a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()]).astype(np.int64)
  b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()]).astype(np.int64)
  differ = a != b
  lo, hi = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
  codes = np.unique(lo * (labels.max() + 1) + hi)
  return np.stack([codes // (labels.max() + 1), codes % (labels.max() + 1)], 1)


@dataclasses.dataclass(frozen=True)
class Regions:
  """The initial regions of one segmentation: sizes [R], boxes [R, 4], colour [R, C*25] and texture [R, C*80]
  histograms, adjacent pairs [E, 2], and the image's pixel count."""

  sizes: np.ndarray
  boxes: np.ndarray
  colour: np.ndarray
  texture: np.ndarray
  pairs: np.ndarray
  image_size: int


def describe_regions(labels: np.ndarray, bins: PixelBins) -> Regions:
  """Regions of `labels` [H, W] (consecutive ints from 0) described with the colour space's pixel codes."""
  n = int(labels.max()) + 1
  return Regions(sizes=np.bincount(labels.ravel(), minlength=n).astype(np.float64),
                 boxes=region_boxes(labels, n),
                 colour=region_histograms(labels, bins.colour, bins.colour_size, n),
                 texture=region_histograms(labels, bins.texture, bins.texture_size, n),
                 pairs=adjacent_pairs(labels), image_size=labels.size)
