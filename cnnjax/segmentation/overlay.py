"""Pictures of a segmentation: region boundaries drawn on the image, or regions painted in colours.

Why: the `cnnjax segment` command and the results folders show segmentations as overlay PNGs.
[H, W, C] uint8 image and [H, W] int labels -> [H, W, 3] uint8.
"""

import numpy as np


def boundaries(labels: np.ndarray) -> np.ndarray:
  """True where a pixel's right or lower neighbour has another label: [H, W] -> [H, W] bool."""
  labels = np.asarray(labels)
  edge = np.zeros(labels.shape, bool)
  edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
  edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
  return edge


def palette(num_colours: int, seed: int = 0) -> np.ndarray:
  """Distinct-looking colours, [num_colours, 3] uint8; colour 0 is black (background)."""
  rng = np.random.default_rng(seed)
  colours = rng.integers(40, 256, (num_colours, 3)).astype(np.uint8)
  colours[0] = 0
  return colours


def _rgb(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.dtype != np.uint8:
    image = np.clip(np.asarray(image, np.float64) * (255 if image.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
  if image.ndim == 2:
    image = image[..., None]
  return np.repeat(image, 3, -1) if image.shape[-1] == 1 else image[..., :3]


def boundary_overlay(image: np.ndarray, labels: np.ndarray, colour=(255, 255, 0)) -> np.ndarray:
  """The image with the boundaries between labels drawn in `colour`."""
  out = _rgb(image).copy()
  out[boundaries(labels)] = colour
  return out


def colour_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5, seed: int = 0) -> np.ndarray:
  """The image blended with one colour per label (label 0 black), boundaries in white."""
  labels = np.asarray(labels)
  colours = palette(int(labels.max()) + 1, seed)[labels]
  out = ((1 - alpha) * _rgb(image) + alpha * colours).astype(np.uint8)
  out[boundaries(labels)] = 255
  return out


def save_png(path, array: np.ndarray, scale: int = 1) -> None:
  """Writes an RGB uint8 array as PNG, enlarged `scale` times with nearest neighbours."""
  from PIL import Image
  if scale > 1:
    array = np.repeat(np.repeat(array, scale, 0), scale, 1)
  Image.fromarray(array).save(path)


def box_overlay(image: np.ndarray, boxes: np.ndarray, scale: int = 1, width: int = 1, seed: int = 0) -> np.ndarray:
  """The image enlarged `scale` times (nearest neighbours) with each box [x0, y0, x1, y1] (pixels, x1 / y1
  exclusive) outlined `width` output pixels thick, inside the box, in its own colour; the first box is drawn last
  (on top): -> [H * scale, W * scale, 3]."""
  out = _rgb(image)
  out = np.repeat(np.repeat(out, scale, 0), scale, 1).copy()
  colours = palette(len(boxes) + 1, seed)[1:]
  for (x0, y0, x1, y1), colour in reversed(list(zip(np.asarray(boxes).tolist(), colours))):
    x0, y0, x1, y1 = x0 * scale, y0 * scale, x1 * scale, y1 * scale
    t = max(1, min(width, (x1 - x0 + 1) // 2, (y1 - y0 + 1) // 2))
    out[y0:y0 + t, x0:x1] = out[y1 - t:y1, x0:x1] = colour
    out[y0:y1, x0:x0 + t] = out[y0:y1, x1 - t:x1] = colour
  return out
