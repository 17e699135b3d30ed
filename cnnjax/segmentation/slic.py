"""SLIC superpixels in JAX: k-means on (CIELAB colour, position) restricted to nearby grid cells.

Why: Achanta et al. 2012, "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods".
Conventions follow skimage.segmentation.slic: the image is min-max rescaled to [0, 1] and
converted to CIELAB (3 channels); centres start on a regular grid of step S = sqrt(H W / n_segments)
with colour 0 (so the first assignment is by position alone); the distance is
|colour|^2 / compactness^2 + |position|^2 / S^2; 10 iterations. Each pixel is compared with the
centres of the (2 search_cells + 1)^2 grid cells around its own (a fixed-shape search as in GPU
SLIC; search_cells=2 covers skimage's 2S window around each centre), so the whole loop is
jit-compiled and vmaps over images. `enforce_connectivity` (host side, numpy/scipy) merges
fragments smaller than half a superpixel into a neighbour, as skimage does.
[H, W, C] -> labels [H, W] int32.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.segmentation.features import rgb_to_lab


def grid_shape(height: int, width: int, n_segments: int) -> tuple[int, int]:
  """Rows and columns of the initial centre grid for about `n_segments` superpixels."""
  step = math.sqrt(height * width / n_segments)
  return max(1, round(height / step)), max(1, round(width / step))


def _colour(image: jax.Array) -> jax.Array:
  image = image.astype(jnp.float32)
  image = (image - image.min()) / jnp.maximum(image.max() - image.min(), 1e-12)
  return rgb_to_lab(image) if image.shape[-1] == 3 else image


@functools.partial(jax.jit, static_argnames=("n_segments", "num_iter", "search_cells"))
def slic(image: jax.Array, n_segments: int = 100, compactness: float = 10.0, num_iter: int = 10,
         search_cells: int = 2) -> jax.Array:
  """SLIC superpixel labels (centre indices, not necessarily consecutive): [H, W, C] -> [H, W] int32."""
  h, w = image.shape[:2]
  rows, cols = grid_shape(h, w, n_segments)
  step_y, step_x = h / rows, w / cols
  spatial_scale = 1.0 / max(step_y, step_x) ** 2
  colour = _colour(image)
  yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
  pixels = jnp.concatenate([colour, yy[..., None], xx[..., None]], -1).reshape(h * w, -1)

  # Candidate centres of each pixel: its grid cell and those within search_cells of it, (2 search_cells + 1)^2
  # in all (its cell and the 24 around it for the default 2), clipped at the border.
  cell_y = jnp.clip((yy / step_y).astype(jnp.int32), 0, rows - 1)
  cell_x = jnp.clip((xx / step_x).astype(jnp.int32), 0, cols - 1)
  reach = range(-search_cells, search_cells + 1)
  offsets = jnp.array([(dy, dx) for dy in reach for dx in reach])
  cand_y = jnp.clip(cell_y[..., None] + offsets[:, 0], 0, rows - 1)
  cand_x = jnp.clip(cell_x[..., None] + offsets[:, 1], 0, cols - 1)
  candidates = (cand_y * cols + cand_x).reshape(h * w, len(offsets))

  centre_y = (jnp.arange(rows, dtype=jnp.float32) + 0.5) * step_y
  centre_x = (jnp.arange(cols, dtype=jnp.float32) + 0.5) * step_x
  cy, cx = jnp.meshgrid(jnp.floor(centre_y), jnp.floor(centre_x), indexing="ij")
  # As skimage: centre colours start at 0, so the first assignment is by position only.
  centres = jnp.concatenate([jnp.zeros((rows * cols, colour.shape[-1])), cy.reshape(-1, 1), cx.reshape(-1, 1)], -1)
  num_colour = colour.shape[-1]
  weights = jnp.concatenate([jnp.full(num_colour, 1.0 / compactness ** 2), jnp.full(2, spatial_scale)])

  def assign(centres):
    diff = pixels[:, None, :] - centres[candidates]
    dist = jnp.sum(diff ** 2 * weights, -1)
    return jnp.take_along_axis(candidates, jnp.argmin(dist, -1)[:, None], -1)[:, 0]

  def update(_, centres):
    labels = assign(centres)
    sums = jax.ops.segment_sum(pixels, labels, num_segments=rows * cols)
    counts = jax.ops.segment_sum(jnp.ones(h * w), labels, num_segments=rows * cols)
    return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centres)

  centres = jax.lax.fori_loop(0, num_iter, update, centres)
  return assign(centres).reshape(h, w).astype(jnp.int32)


def slic_batch(images: jax.Array, n_segments: int = 100, compactness: float = 10.0, num_iter: int = 10,
               search_cells: int = 2):
  """slic vmapped over images: [B, H, W, C] -> [B, H, W]."""
  return jax.vmap(lambda im: slic(im, n_segments, compactness, num_iter, search_cells))(images)


def _ring_counts(regions: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """For regions 1..count, the regions of the pixels 4-adjacent to each (its ring) and how many ring pixels each has.

  Returns (starts [count + 2], neighbours, pixels): region r's ring holds `pixels[i]` pixels of region
  `neighbours[i]` for i in starts[r]:starts[r + 1]. One vectorised pass over the image.
  """
  h, w = regions.shape
  index = np.arange(h * w).reshape(h, w)
  keys = []
  for inner, outer in ((np.s_[:, :-1], np.s_[:, 1:]), (np.s_[:, 1:], np.s_[:, :-1]),
                       (np.s_[:-1, :], np.s_[1:, :]), (np.s_[1:, :], np.s_[:-1, :])):
    a, b = regions[inner], regions[outer]
    differ = a != b
    keys.append(a[differ] * (h * w) + index[outer][differ])  # (region, ring pixel)
  ring = np.unique(np.concatenate(keys))
  region, neighbour = ring // (h * w), regions.reshape(-1)[ring % (h * w)]
  pairs, pixels = np.unique(region * (count + 1) + neighbour, return_counts=True)
  region, neighbour = pairs // (count + 1), pairs % (count + 1)
  return np.searchsorted(region, np.arange(count + 2)), neighbour, pixels


def enforce_connectivity(labels: np.ndarray, min_size: int) -> np.ndarray:
  """Relabels connected regions 0..R-1; regions smaller than `min_size` pixels join a neighbouring large one.

  As skimage's enforce_connectivity, a region is judged by its own size (merging never rescues a
  small region). A small region joins the owner most of its bordering pixels (4-neighbours) belong
  to, among regions already settled. Host-side post-processing (scipy.ndimage); the borders are
  counted once for the whole image, not once per region, so a noisy image's many fragments stay
  cheap. [H, W] -> [H, W].
  """
  from scipy import ndimage
  labels = np.asarray(labels)
  regions = np.zeros(labels.shape, np.int64)
  count = 0
  for value in np.unique(labels):
    comp, n = ndimage.label(labels == value)
    regions[comp > 0] = comp[comp > 0] + count
    count += n
  sizes = np.bincount(regions.ravel(), minlength=count + 1)
  owner = np.arange(count + 1)
  small = [r for r in range(1, count + 1) if sizes[r] < min_size]
  if len(small) == count:  # nothing is large enough: keep the largest region
    small.remove(int(np.argmax(sizes[1:])) + 1)
  settled = [True] * (count + 1)
  for region in small:
    settled[region] = False
  owner = owner.tolist()
  starts, neighbours, pixels = (a.tolist() for a in _ring_counts(regions, count))
  while small:  # plain Python: rings are a few entries, and numpy's per-call cost would dominate
    remaining = []
    for region in small:
      votes = {}
      for i in range(starts[region], starts[region + 1]):
        if settled[neighbours[i]]:
          votes[owner[neighbours[i]]] = votes.get(owner[neighbours[i]], 0) + pixels[i]
      if not votes:
        remaining.append(region)
        continue
      owner[region] = min(votes, key=lambda o: (-votes[o], o))  # most bordering pixels; ties: lowest owner
      settled[region] = True
    if len(remaining) == len(small):  # isolated small regions: keep them
      break
    small = remaining
  _, relabelled = np.unique(np.asarray(owner)[regions], return_inverse=True)
  return relabelled.reshape(labels.shape).astype(np.int32)
