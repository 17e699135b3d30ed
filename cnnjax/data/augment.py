"""Augmentation as pure JAX functions on fixed-size batches, run inside the jitted step.

Each augmentation is `aug(rng, images, labels, **kwargs) -> (images, labels)` on
[N, H, W, C] images with independent randomness per example. Labels pass through
unchanged for classification; dense [N, H, W] labels move with their pixels.
`AUGMENTATIONS` names them for configs; `make_augment` composes a config's choice.
"""

import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

Augment = Callable[..., tuple[jax.Array, jax.Array]]


def _is_dense(images: jax.Array, labels: jax.Array) -> bool:
  return labels.ndim >= 3 and labels.shape[1:3] == images.shape[1:3]


def random_flip(rng: jax.Array, images: jax.Array, labels: jax.Array, probability: float = 0.5):
  """Mirrors each image left-right with `probability` (dense labels too)."""
  flip = jax.random.bernoulli(rng, probability, (images.shape[0],))
  images = jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
  if _is_dense(images, labels):
    labels = jnp.where(flip.reshape((-1,) + (1,) * (labels.ndim - 1)), labels[:, :, ::-1], labels)
  return images, labels


def random_crop(rng: jax.Array, images: jax.Array, labels: jax.Array, padding: int = 4,
                label_fill: int = 0):
  """Zero-pads by `padding` on each side and crops back to the original size at a random offset."""
  n, h, w, _ = images.shape
  offsets = jax.random.randint(rng, (n, 2), 0, 2 * padding + 1)

  def crop(x, offset, fill):
    pad = [(padding, padding), (padding, padding)] + [(0, 0)] * (x.ndim - 2)
    x = jnp.pad(x, pad, constant_values=fill)
    return jax.lax.dynamic_slice(x, (offset[0], offset[1]) + (0,) * (x.ndim - 2), (h, w) + x.shape[2:])

  images = jax.vmap(lambda x, o: crop(x, o, 0))(images, offsets)
  if _is_dense(images, labels):
    labels = jax.vmap(lambda y, o: crop(y, o, label_fill))(labels, offsets)
  return images, labels


AUGMENTATIONS: Mapping[str, Augment] = {
    "flip": random_flip,
    "crop": random_crop,
}


def make_augment(augment_config: Mapping[str, Mapping]) -> Augment | None:
  """Composes the augmentations named in the config (name -> kwargs), each with its own key."""
  unknown = [name for name in augment_config if name not in AUGMENTATIONS]
  if unknown:
    raise ValueError(f"config.augment names unknown augmentations {unknown}; known: {sorted(AUGMENTATIONS)}")
  chain = [functools.partial(AUGMENTATIONS[name], **dict(kwargs)) for name, kwargs in augment_config.items()]
  if not chain:
    return None

  def augment(rng, images, labels):
    for fn, key in zip(chain, jax.random.split(rng, len(chain))):
      images, labels = fn(key, images, labels)
    return images, labels

  return augment
