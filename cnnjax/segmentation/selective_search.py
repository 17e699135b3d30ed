"""Selective search (Uijlings et al., IJCV 2013): object proposals from hierarchical grouping of image regions.

Why: the lecture's road from regions to objects. Diversification: the grouping runs from Felzenszwalb-
Huttenlocher segmentations (sigma 0.8, min_size = k) in several colour spaces and thresholds k, with
several similarity strategies; the paper's "single", "fast" and "quality" settings are below. Ranking as
the paper's section 3.3: in each hierarchy the region formed last (the whole image) has position 1, the
one before it 2, ...; position times a random number in [0, 1] orders all regions, duplicates are dropped.
uint8 [H, W, 3], [H, W, 1] or [H, W] -> int32 boxes [K, 4] (x0, y0, x1, y1), x1 and y1 exclusive.
"""

import dataclasses
from collections.abc import Iterator

import numpy as np

from cnnjax.segmentation import graph
from cnnjax.segmentation.grouping import SIMILARITIES, Hierarchy, group
from cnnjax.segmentation.region_features import COLOUR_SPACES, as_rgb, describe_regions, pixel_bins

SIGMA = 0.8


@dataclasses.dataclass(frozen=True)
class Strategy:
  """A diversification setting: colour spaces x thresholds k x similarity strategies, one hierarchy each; the
  initial regions' min_size is k unless given."""

  colour_spaces: tuple[str, ...]
  ks: tuple[int, ...]
  similarities: tuple[str, ...]
  min_size: int | None = None


MODES = {
    "single": Strategy(("hsv",), (100,), ("CTSF",)),
    "fast": Strategy(("hsv", "lab"), (50, 100), ("CTSF", "TSF")),
    "quality": Strategy(("hsv", "lab", "rgi", "h", "i"), (50, 100, 150, 300), ("CTSF", "TSF", "F", "S")),
}


def initial_labels(space_image: np.ndarray, k: float, sigma: float = SIGMA, min_size: int | None = None) -> np.ndarray:
  """Felzenszwalb-Huttenlocher regions (threshold k, min_size k unless given) of a colour-space image [H, W, C] in
  [0, 1], numbered 0.. -> int32 [H, W]."""
  image = space_image[..., 0] if space_image.shape[-1] == 1 else space_image
  labels = graph.felzenszwalb(image, scale=k, sigma=sigma, min_size=int(k if min_size is None else min_size))
  return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)


def _check(mode, colour_space: str | None = None, strategy: str | None = None) -> None:
  if isinstance(mode, Strategy):
    for space in mode.colour_spaces:
      _check("fast", colour_space=space)
    for letters in mode.similarities:
      _check("fast", strategy=letters)
    return
  if mode not in MODES:
    raise ValueError(f"selective search mode {mode!r} is unknown; choose from {sorted(MODES)}")
  if colour_space is not None and colour_space not in COLOUR_SPACES:
    raise ValueError(f"colour space {colour_space!r} is unknown; choose from {sorted(COLOUR_SPACES)}")
  if strategy is not None and (not strategy or set(strategy) - set(SIMILARITIES)):
    raise ValueError(f"similarity strategy {strategy!r}: combine the letters {''.join(SIMILARITIES)}, e.g. 'CTSF'")


def hierarchies(image: np.ndarray, mode: str | Strategy = "fast", sigma: float = SIGMA) -> Iterator[Hierarchy]:
  """Every hierarchy of the mode's (a name in MODES, or a Strategy) diversification, colour space by colour space,
  k by k, strategy by strategy."""
  _check(mode)
  setting = mode if isinstance(mode, Strategy) else MODES[mode]
  rgb = as_rgb(image)
  for space in setting.colour_spaces:
    bins = pixel_bins(COLOUR_SPACES[space](rgb))
    for k in setting.ks:
      labels = initial_labels(bins.image, k, sigma, setting.min_size)
      regions = describe_regions(labels, bins)
      for strategy in setting.similarities:
        yield group(labels, regions, strategy)


def hierarchy(image: np.ndarray, colour_space: str = "hsv", k: float = 100, strategy: str = "CTSF",
              sigma: float = SIGMA) -> Hierarchy:
  """One hierarchical grouping of `image`: its initial labels, the merge sequence and every region's box."""
  _check("fast", colour_space, strategy)
  bins = pixel_bins(COLOUR_SPACES[colour_space](as_rgb(image)))
  labels = initial_labels(bins.image, k, sigma)
  return group(labels, describe_regions(labels, bins), strategy)


def rank(groupings: list[Hierarchy], rng: np.random.Generator) -> np.ndarray:
  """Boxes of all hierarchies ordered by position x uniform random number (smallest first), duplicates dropped
  (each box keeps its best place) -> int32 [K, 4]."""
  boxes = np.concatenate([h.boxes for h in groupings])
  values = np.concatenate([rng.random(len(h.boxes)) * np.arange(len(h.boxes), 0, -1) for h in groupings])
  boxes = boxes[np.argsort(values, kind="stable")]
  _, first = np.unique(boxes, axis=0, return_index=True)
  return boxes[np.sort(first)].astype(np.int32)


def selective_search(image: np.ndarray, mode: str | Strategy = "fast", seed: int = 0,
                     sigma: float = SIGMA) -> np.ndarray:
  """Ranked, de-duplicated region proposals of `image` (uint8 [H, W, 3], [H, W, 1] or [H, W]; grey images are
  repeated over 3 channels) -> int32 [K, 4] rows (x0, y0, x1, y1) in pixels, x1 / y1 exclusive, best first."""
  return rank(list(hierarchies(image, mode, sigma)), np.random.default_rng(seed))
