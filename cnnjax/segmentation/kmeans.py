"""k-means (Lloyd's algorithm) in JAX, and k-means segmentation of images in colour + position space.

Why: the lecture's first grouping method (MacQueen 1967; Lloyd 1982). The loop follows
scikit-learn's KMeans(algorithm="lloyd"): stop when the assignment no longer changes or the
squared centre shift is <= tol * mean feature variance, then assign once more to the final
centres; from the same initial centres it gives the same assignment. A cluster that loses all
its points keeps its centre (scikit-learn relocates it; this rarely matters for images).
jit-compiled, and `kmeans_segment_batch` vmaps over images.
"""

import functools

import jax
import jax.numpy as jnp

from cnnjax.segmentation.features import pixel_features


def squared_distances(points: jax.Array, centres: jax.Array) -> jax.Array:
  """[N, D], [K, D] -> [N, K] squared Euclidean distances."""
  return (jnp.sum(points ** 2, -1, keepdims=True) - 2 * points @ centres.T + jnp.sum(centres ** 2, -1))


def assign(points: jax.Array, centres: jax.Array) -> jax.Array:
  """Index of the nearest centre for each point: [N, D], [K, D] -> [N] int32."""
  return jnp.argmin(squared_distances(points, centres), axis=-1).astype(jnp.int32)


def update_centres(points: jax.Array, labels: jax.Array, centres: jax.Array) -> jax.Array:
  """Mean of each cluster's points; an empty cluster keeps its centre. -> [K, D]."""
  k = centres.shape[0]
  sums = jax.ops.segment_sum(points, labels, num_segments=k)
  counts = jax.ops.segment_sum(jnp.ones(points.shape[0], points.dtype), labels, num_segments=k)
  return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centres)


@functools.partial(jax.jit, static_argnames=("max_iter",))
def kmeans(points: jax.Array, init_centres: jax.Array, max_iter: int = 300, tol: float = 1e-4):
  """Lloyd's k-means from `init_centres`.

  [N, D] points, [K, D] initial centres -> (centres [K, D], labels [N] int32, iterations).
  """
  points = points.astype(jnp.float32)
  threshold = tol * jnp.mean(jnp.var(points, axis=0))
  labels0 = assign(points, init_centres)

  def cond(carry):
    _, _, i, done = carry
    return (i < max_iter) & ~done

  def body(carry):
    centres, labels, i, _ = carry
    new_centres = update_centres(points, labels, centres)
    new_labels = assign(points, new_centres)
    shift = jnp.sum((new_centres - centres) ** 2)
    done = jnp.all(new_labels == labels) | (shift <= threshold)
    return new_centres, new_labels, i + 1, done

  centres, _, iterations, _ = jax.lax.while_loop(
      cond, body, (init_centres.astype(jnp.float32), labels0, jnp.int32(0), jnp.bool_(False)))
  return centres, assign(points, centres), iterations


def random_init(key: jax.Array, points: jax.Array, k: int) -> jax.Array:
  """k distinct points chosen uniformly at random as initial centres: [N, D] -> [K, D]."""
  return points[jax.random.choice(key, points.shape[0], (k,), replace=False)]


@functools.partial(jax.jit, static_argnames=("k", "position_weight", "max_iter"))
def kmeans_segment(image: jax.Array, key: jax.Array, k: int = 8, position_weight: float = 0.0,
                   max_iter: int = 100) -> jax.Array:
  """Segments an image by k-means on colour (+ weighted position): [H, W, C] -> labels [H, W] in [0, k)."""
  h, w = image.shape[:2]
  points = pixel_features(image, position_weight)
  _, labels, _ = kmeans(points, random_init(key, points, k), max_iter=max_iter)
  return labels.reshape(h, w)


def kmeans_segment_batch(images: jax.Array, keys: jax.Array, k: int = 8, position_weight: float = 0.0,
                         max_iter: int = 100) -> jax.Array:
  """kmeans_segment vmapped over images: [B, H, W, C], keys [B] -> [B, H, W]."""
  return jax.vmap(lambda im, key: kmeans_segment(im, key, k, position_weight, max_iter))(images, keys)
