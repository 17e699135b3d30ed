"""Mean shift mode seeking in JAX (flat and Gaussian kernels), and mean-shift segmentation of images.

Why: Comaniciu & Meer 2002, the lecture's non-parametric grouping: every seed climbs the kernel
density estimate of the features to a mode; pixels take the label of their nearest mode.
With the flat kernel the procedure follows scikit-learn's MeanShift: each seed moves to the mean
of the points within `bandwidth` until it moves less than 1e-3 * bandwidth (at most max_iter
times); modes are ranked by how many points lie within `bandwidth` of them and a mode within
`bandwidth` of a better-ranked one is dropped. The Gaussian kernel weighs every point by
exp(-d^2 / (2 bandwidth^2)) instead. Shapes are static (a fixed number of seeds, modes returned
with a validity mask), so it jit-compiles and vmaps over images.
"""

import functools

import jax
import jax.numpy as jnp

from cnnjax.segmentation.features import pixel_features
from cnnjax.segmentation.kmeans import assign, squared_distances

KERNELS = ("flat", "gaussian")


def _kernel_weights(sq_dist: jax.Array, bandwidth: float, kernel: str) -> jax.Array:
  if kernel == "flat":
    return (sq_dist <= bandwidth ** 2).astype(jnp.float32)
  if kernel == "gaussian":
    return jnp.exp(-sq_dist / (2 * bandwidth ** 2))
  raise ValueError(f"mean shift kernel {kernel!r} is unknown; use one of {KERNELS}")


@functools.partial(jax.jit, static_argnames=("kernel", "max_iter"))
def shift_seeds(points: jax.Array, seeds: jax.Array, bandwidth: float, kernel: str = "flat",
                max_iter: int = 300) -> tuple[jax.Array, jax.Array]:
  """Moves every seed uphill until it converges: [N, D] points, [S, D] seeds -> (modes [S, D], support [S]).

  support is the number of points within `bandwidth` of each converged seed's last position
  (0: no point near the seed, the seed is invalid).
  """
  points = points.astype(jnp.float32)
  threshold = 1e-3 * bandwidth

  def step(x):
    weights = _kernel_weights(squared_distances(x, points), bandwidth, kernel)
    total = weights.sum(-1, keepdims=True)
    return jnp.where(total > 0, (weights @ points) / jnp.maximum(total, 1e-30), x)

  def cond(carry):
    _, active, i = carry
    return (i < max_iter) & jnp.any(active)

  def body(carry):
    x, active, i = carry
    new = step(x)
    moved = jnp.sqrt(jnp.sum((new - x) ** 2, -1))
    x = jnp.where(active[:, None], new, x)
    return x, active & (moved >= threshold), i + 1

  x, _, _ = jax.lax.while_loop(cond, body, (seeds.astype(jnp.float32), jnp.ones(seeds.shape[0], bool),
                                            jnp.int32(0)))
  support = jnp.sum(squared_distances(x, points) <= bandwidth ** 2, -1)
  return x, support


@jax.jit
def merge_modes(modes: jax.Array, support: jax.Array, bandwidth: float) -> jax.Array:
  """Greedy suppression: visiting modes by decreasing support, drop any within `bandwidth` of a kept one.

  [S, D], [S] -> keep [S] bool (modes with zero support are never kept).
  """
  order = jnp.argsort(-support, stable=True)
  sorted_modes = modes[order]
  close = squared_distances(sorted_modes, sorted_modes) <= bandwidth ** 2
  index = jnp.arange(modes.shape[0])

  def body(i, keep):
    suppressed = jnp.any(keep & close[i] & (index < i))
    return keep.at[i].set(keep[i] & ~suppressed)

  keep_sorted = jax.lax.fori_loop(0, modes.shape[0], body, support[order] > 0)
  return jnp.zeros_like(keep_sorted).at[order].set(keep_sorted)


def mean_shift(points: jax.Array, seeds: jax.Array, bandwidth: float, kernel: str = "flat", max_iter: int = 300):
  """Modes of `points` found from `seeds`.

  Returns (modes [S, D], keep [S] bool, labels [N] int32 indexing modes: the nearest kept mode).
  """
  modes, support = shift_seeds(points, seeds, bandwidth, kernel, max_iter)
  keep = merge_modes(modes, support, bandwidth)
  far = jnp.where(keep[:, None], modes, jnp.full_like(modes, 1e9))
  return modes, keep, assign(points.astype(jnp.float32), far)


@functools.partial(jax.jit, static_argnames=("position_weight", "num_seeds", "kernel", "max_iter", "stride"))
def mean_shift_segment(image: jax.Array, key: jax.Array, bandwidth: float = 0.1, position_weight: float = 0.0,
                       num_seeds: int = 128, kernel: str = "flat", max_iter: int = 100, stride: int = 1):
  """Segments an image: modes are sought on every `stride`-th pixel from `num_seeds` random seeds (at most one
  seed per sampled pixel, so a tiny image has fewer).

  [H, W, C] -> (labels [H, W] int32 indexing modes, number of modes).
  """
  h, w = image.shape[:2]
  points = pixel_features(image, position_weight)
  sample = points.reshape(h, w, -1)[::stride, ::stride].reshape(-1, points.shape[-1])
  seeds = sample[jax.random.choice(key, sample.shape[0], (min(num_seeds, sample.shape[0]),), replace=False)]
  modes, support = shift_seeds(sample, seeds, bandwidth, kernel, max_iter)
  keep = merge_modes(modes, support, bandwidth)
  far = jnp.where(keep[:, None], modes, jnp.full_like(modes, 1e9))
  return assign(points, far).reshape(h, w), jnp.sum(keep)


def mean_shift_segment_batch(images, keys, bandwidth: float = 0.1, position_weight: float = 0.0,
                             num_seeds: int = 128, kernel: str = "flat", max_iter: int = 100, stride: int = 1):
  """mean_shift_segment vmapped over images: [B, H, W, C], keys [B] -> ([B, H, W], [B])."""
  return jax.vmap(lambda im, k: mean_shift_segment(im, k, bandwidth, position_weight, num_seeds, kernel,
                                                   max_iter, stride))(images, keys)
