"""Selective search's hierarchical grouping: similarities, merging, and the merge sequence of one segmentation.

Why: Uijlings et al. (IJCV 2013, section 3.1) start from the initial regions, repeatedly merge the two
neighbouring regions of highest similarity s = sum of the strategy's colour (C), texture (T), size (S)
and fill (F) similarities, and stop at one region; every region ever formed is a proposal. A merged
region's histograms are the size-weighted average of its parts', so no pixel is read again.
"""

import dataclasses
import heapq
from collections.abc import Callable

import numpy as np

from cnnjax.segmentation.region_features import Regions


@dataclasses.dataclass
class RegionTable:
  """Every region of a hierarchy, initial ones first, merged ones appended: sizes [N], boxes [N, 4] (x0, y0, x1,
  y1), colour [N, Dc] and texture [N, Dt] histograms; image_size is the image's pixel count."""

  sizes: np.ndarray
  boxes: np.ndarray
  colour: np.ndarray
  texture: np.ndarray
  image_size: int

  @classmethod
  def from_regions(cls, regions: Regions) -> "RegionTable":
    """Room for the n initial regions and the n - 1 merged ones."""
    n = len(regions.sizes)

    def room(a):
      return np.concatenate([a, np.zeros((n - 1, *a.shape[1:]), a.dtype)])
    return cls(room(regions.sizes), room(regions.boxes), room(regions.colour), room(regions.texture),
               regions.image_size)

  def merge(self, i: int, j: int, t: int) -> None:
    """Region t := regions i and j: sizes add, boxes join, histograms average weighted by size (the paper's
    C_t = (size(r_i) C_i + size(r_j) C_j) / (size(r_i) + size(r_j)))."""
    si, sj = self.sizes[i], self.sizes[j]
    self.sizes[t] = si + sj
    self.boxes[t, :2] = np.minimum(self.boxes[i, :2], self.boxes[j, :2])
    self.boxes[t, 2:] = np.maximum(self.boxes[i, 2:], self.boxes[j, 2:])
    self.colour[t] = (si * self.colour[i] + sj * self.colour[j]) / (si + sj)
    self.texture[t] = (si * self.texture[i] + sj * self.texture[j]) / (si + sj)


def colour_similarity(r: RegionTable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Histogram intersection of the colour histograms: sum_k min(c_a^k, c_b^k), in [0, 1]."""
  return np.minimum(r.colour[a], r.colour[b]).sum(-1)


def texture_similarity(r: RegionTable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Histogram intersection of the texture histograms, in [0, 1]."""
  return np.minimum(r.texture[a], r.texture[b]).sum(-1)


def size_similarity(r: RegionTable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """1 - (size(a) + size(b)) / size(image): small regions merge first."""
  return 1.0 - (r.sizes[a] + r.sizes[b]) / r.image_size


def fill_similarity(r: RegionTable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """1 - (size(BB_ab) - size(a) - size(b)) / size(image): regions that fill each other's gaps merge first."""
  lo = np.minimum(r.boxes[a, :2], r.boxes[b, :2])
  hi = np.maximum(r.boxes[a, 2:], r.boxes[b, 2:])
  box_area = np.prod(hi - lo, -1)
  return 1.0 - (box_area - r.sizes[a] - r.sizes[b]) / r.image_size


SIMILARITIES: dict[str, Callable[[RegionTable, np.ndarray, np.ndarray], np.ndarray]] = {
    "C": colour_similarity, "T": texture_similarity, "S": size_similarity, "F": fill_similarity,
}


def similarity(strategy: str, r: RegionTable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """The strategy's combined similarity (e.g. "CTSF": the sum of all four, each weighted 1) of pairs (a, b)."""
  return sum(SIMILARITIES[letter](r, a, b) for letter in strategy)


@dataclasses.dataclass(frozen=True)
class Hierarchy:
  """One hierarchical grouping: the initial labels [H, W], every region's box [2n - 1, 4] (x0, y0, x1, y1; the n
  initial regions first, then one per merge) and size, and merges [n - 1, 2]: region n + m joined merges[m]."""

  labels: np.ndarray
  boxes: np.ndarray
  sizes: np.ndarray
  merges: np.ndarray

  @property
  def num_initial(self) -> int:
    return len(self.boxes) - len(self.merges)

  def labels_at(self, num_regions: int) -> np.ndarray:
    """The partition once only `num_regions` regions are left, numbered 0.. in the order the regions were formed
    -> int32 [H, W]."""
    steps = min(len(self.merges), max(0, self.num_initial - num_regions))
    parent = np.arange(len(self.boxes))
    for m, (a, b) in enumerate(self.merges[:steps]):
      parent[[a, b]] = self.num_initial + m
    while not np.array_equal(parent[parent], parent):
      parent = parent[parent]
    return np.unique(parent[self.labels], return_inverse=True)[1].reshape(self.labels.shape).astype(np.int32)


def group(labels: np.ndarray, regions: Regions, strategy: str) -> Hierarchy:
  """Merges the most similar neighbouring regions until one is left (the paper's Algorithm 1).

  The similarities live in a max-heap; an entry whose region was merged away is skipped when it surfaces.
  """
  n = len(regions.sizes)
  table = RegionTable.from_regions(regions)
  neighbours: list[set[int]] = [set() for _ in range(2 * n - 1)]
  for a, b in regions.pairs.tolist():
    neighbours[a].add(b)
    neighbours[b].add(a)
  pairs = regions.pairs
  heap = list(zip((-similarity(strategy, table, pairs[:, 0], pairs[:, 1])).tolist(), pairs[:, 0].tolist(),
                  pairs[:, 1].tolist()))
  heapq.heapify(heap)
  alive = np.zeros(2 * n - 1, bool)
  alive[:n] = True
  merges = []
  t = n
  while heap:
    _, i, j = heapq.heappop(heap)
    if not (alive[i] and alive[j]):
      continue
    table.merge(i, j, t)
    alive[[i, j]] = False
    alive[t] = True
    merges.append((i, j))
    around = (neighbours[i] | neighbours[j]) - {i, j}
    for k in around:
      neighbours[k] -= {i, j}
      neighbours[k].add(t)
    neighbours[t] = around
    if around:
      others = np.fromiter(around, np.int64, len(around))
      for s, k in zip(similarity(strategy, table, np.full(len(others), t), others).tolist(), others.tolist()):
        heapq.heappush(heap, (-s, k, t))
    t += 1
  merges = np.asarray(merges, np.int64).reshape(-1, 2)
  return Hierarchy(labels, table.boxes[:t], table.sizes[:t], merges)
