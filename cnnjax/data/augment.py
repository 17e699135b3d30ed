"""Augmentation as pure JAX functions on fixed-size batches, run inside the jitted step.

Each augmentation is `aug(rng, images, labels, **kwargs) -> (images, labels)` on
[N, H, W, C] images with independent randomness per example. Labels pass through
unchanged for classification; dense [N, H, W] labels move with their pixels; detection labels
{"boxes": [N, M, 4] (x0, y0, x1, y1) in pixels, "classes": [N, M], -1 = none} move with the flip and pass
colour unchanged; crop and affine refuse them (BOX_AWARE; they would cut or rotate boxes).
`AUGMENTATIONS` names them for configs; `make_augment` composes a config's choice.
"""

import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from cnnjax.errors import InputError

Augment = Callable[..., tuple[jax.Array, jax.Array]]


def _has_boxes(labels) -> bool:
  return isinstance(labels, Mapping) and "boxes" in labels


def _is_dense(images: jax.Array, labels) -> bool:
  return not _has_boxes(labels) and labels.ndim >= 3 and labels.shape[1:3] == images.shape[1:3]


def _refuse_boxes(name: str, labels) -> None:
  if _has_boxes(labels):
    check_box_aware(name)


def flip_boxes(boxes: jax.Array, classes: jax.Array, width: int) -> jax.Array:
  """Mirrors (x0, y0, x1, y1) pixel boxes [..., M, 4] in an image `width` wide: x0' = W - x1, x1' = W - x0;
  padding rows (classes -1) stay as they are."""
  x0, y0, x1, y1 = jnp.moveaxis(boxes, -1, 0)
  flipped = jnp.stack([width - x1, y0, width - x0, y1], axis=-1)
  return jnp.where((classes >= 0)[..., None], flipped, boxes)


def random_flip(rng: jax.Array, images: jax.Array, labels: jax.Array, probability: float = 0.5):
  """Mirrors each image left-right with `probability` (dense labels and boxes too)."""
  flip = jax.random.bernoulli(rng, probability, (images.shape[0],))
  images = jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
  if _has_boxes(labels):
    boxes = jnp.where(flip[:, None, None], flip_boxes(labels["boxes"], labels["classes"], images.shape[2]),
                      labels["boxes"])
    labels = {**labels, "boxes": boxes}
  elif _is_dense(images, labels):
    labels = jnp.where(flip.reshape((-1,) + (1,) * (labels.ndim - 1)), labels[:, :, ::-1], labels)
  return images, labels


def random_crop(rng: jax.Array, images: jax.Array, labels: jax.Array, padding: int = 4,
                label_fill: int = 0):
  """Zero-pads by `padding` on each side and crops back to the original size at a random offset."""
  _refuse_boxes("crop", labels)
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


def _uniform_factors(rng, n: int, amount: float) -> jax.Array:
  """Per-example factors in [max(0, 1 - amount), 1 + amount] (torchvision's ColorJitter ranges)."""
  return jax.random.uniform(rng, (n,), minval=max(0.0, 1.0 - amount), maxval=1.0 + amount)


def _grayscale(x: jax.Array) -> jax.Array:
  """ITU-R 601 luma, [N, H, W, 3] -> [N, H, W, 1]."""
  return jnp.sum(x * jnp.asarray([0.299, 0.587, 0.114], x.dtype), axis=-1, keepdims=True)


def _rotate_hue(x: jax.Array, turns: jax.Array) -> jax.Array:
  """Rotates the chroma of RGB images by `turns` x 360 degrees in YIQ space (luma unchanged)."""
  to_yiq = jnp.asarray([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], x.dtype)
  to_rgb = jnp.linalg.inv(to_yiq)
  cos, sin = jnp.cos(2 * jnp.pi * turns), jnp.sin(2 * jnp.pi * turns)
  one, zero = jnp.ones_like(cos), jnp.zeros_like(cos)
  rotation = jnp.stack([jnp.stack([one, zero, zero], -1), jnp.stack([zero, cos, -sin], -1),
                        jnp.stack([zero, sin, cos], -1)], -2)  # [N, 3, 3]
  matrix = jnp.einsum("ij,njk,kl->nil", to_rgb, rotation, to_yiq)
  return jnp.einsum("nij,nhwj->nhwi", matrix, x)


def color_jitter(rng: jax.Array, images: jax.Array, labels: jax.Array, brightness: float = 0.0,
                 contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0, mean=None, std=None):
  """Colour casting: random brightness, contrast, saturation (factors in [1 - a, 1 + a]) and hue
  (rotation by up to `hue` turns), applied in that order, per example.

  The lecture's colour casting; ranges as torchvision's ColorJitter. Works on images in [0, 1]; pass
  the dataset's `mean` and `std` when the images are normalised, and they are mapped back to [0, 1],
  jittered, clipped and normalised again. Saturation and hue need 3 channels and are skipped for
  grey images. [N, H, W, C] -> [N, H, W, C]; labels unchanged.
  """
  if hue < 0 or hue > 0.5:
    raise InputError(f"color_jitter hue={hue} (config.augment.color.hue) must be in [0, 0.5] "
                     "(turns of the colour wheel)")
  dtype = images.dtype
  x = images.astype(jnp.float32)
  if mean is not None:
    x = x * jnp.asarray(std, jnp.float32) + jnp.asarray(mean, jnp.float32)
  n = x.shape[0]
  keys = jax.random.split(rng, 4)
  rgb = x.shape[-1] == 3
  if brightness:
    x = x * _uniform_factors(keys[0], n, brightness)[:, None, None, None]
  if contrast:
    gray = _grayscale(x) if rgb else x.mean(axis=-1, keepdims=True)
    centre = gray.mean(axis=(1, 2, 3), keepdims=True)
    x = centre + _uniform_factors(keys[1], n, contrast)[:, None, None, None] * (x - centre)
  if saturation and rgb:
    gray = _grayscale(x)
    x = gray + _uniform_factors(keys[2], n, saturation)[:, None, None, None] * (x - gray)
  if hue and rgb:
    x = _rotate_hue(x, jax.random.uniform(keys[3], (n,), minval=-hue, maxval=hue))
  x = jnp.clip(x, 0.0, 1.0)
  if mean is not None:
    x = (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)
  return x.astype(dtype), labels


def affine_matrices(rng: jax.Array, n: int, size: tuple[int, int], rotation: float = 0.0, scale: float = 0.0,
                    shear: float = 0.0, translate: float = 0.0) -> jax.Array:
  """Per-example [n, 3, 3] maps from output pixel (row, col, 1) to input pixel, about the image centre.

  Rotation and shear angles are uniform in [-deg, deg], the zoom in [1 - scale, 1 + scale], the shift
  in [-translate, translate] x the image size. All zero gives the identity.
  """
  kr, ks, kh, kt = jax.random.split(rng, 4)
  angle = jnp.deg2rad(jax.random.uniform(kr, (n,), minval=-rotation, maxval=rotation))
  zoom = jax.random.uniform(ks, (n,), minval=1.0 - scale, maxval=1.0 + scale)
  shear_angle = jnp.deg2rad(jax.random.uniform(kh, (n,), minval=-shear, maxval=shear))
  shift = jax.random.uniform(kt, (n, 2), minval=-translate, maxval=translate) * jnp.asarray(size, jnp.float32)
  cos, sin, tan = jnp.cos(angle), jnp.sin(angle), jnp.tan(shear_angle)
  one, zero = jnp.ones_like(cos), jnp.zeros_like(cos)
  # forward map in (row, col): rotate, shear along columns, zoom; the sampler needs its inverse.
  rot = jnp.stack([jnp.stack([cos, -sin], -1), jnp.stack([sin, cos], -1)], -2)
  shr = jnp.stack([jnp.stack([one, zero], -1), jnp.stack([tan, one], -1)], -2)
  forward = zoom[:, None, None] * jnp.einsum("nij,njk->nik", rot, shr)
  inverse = jnp.linalg.inv(forward)
  centre = (jnp.asarray(size, jnp.float32) - 1) / 2
  offset = centre - jnp.einsum("nij,nj->ni", inverse, centre + shift)
  top = jnp.concatenate([inverse, offset[:, :, None]], axis=-1)
  bottom = jnp.broadcast_to(jnp.asarray([0.0, 0.0, 1.0]), (n, 1, 3))
  return jnp.concatenate([top, bottom], axis=1)


def _warp(x: jax.Array, matrix: jax.Array, order: int, fill: float) -> jax.Array:
  """Samples one [H, W, ...] array at matrix @ (row, col, 1), channel by channel."""
  h, w = x.shape[:2]
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
  src = jnp.einsum("ij,jhw->ihw", matrix[:2], jnp.stack([rows, cols, jnp.ones_like(rows)]))
  flat = x.reshape(h, w, -1).astype(jnp.float32)
  sample = lambda channel: jax.scipy.ndimage.map_coordinates(channel, [src[0], src[1]], order=order,
                                                             mode="constant", cval=fill)
  out = jax.vmap(sample, in_axes=-1, out_axes=-1)(flat)
  return out.reshape(x.shape).astype(x.dtype)


def random_affine(rng: jax.Array, images: jax.Array, labels: jax.Array, rotation: float = 0.0,
                  scale: float = 0.0, shear: float = 0.0, translate: float = 0.0, fill: float = 0.0,
                  label_fill: int = 0):
  """Geometric distortion: random rotation, zoom, shear and translation per example (bilinear).

  The lecture's "random mix of translation, rotation, stretching, shearing". Dense [N, H, W(, ...)]
  labels move with the same transform, by nearest-neighbour sampling; pixels mapped from outside
  the image get `fill` (in the images' value space: 0 is the mean after normalisation) and
  `label_fill`. All-zero parameters are the identity. [N, H, W, C] -> [N, H, W, C].
  """
  _refuse_boxes("affine", labels)
  n, h, w = images.shape[:3]
  matrices = affine_matrices(rng, n, (h, w), rotation, scale, shear, translate)
  images = jax.vmap(lambda x, m: _warp(x, m, 1, fill))(images, matrices)
  if _is_dense(images, labels):
    labels = jax.vmap(lambda y, m: _warp(y, m, 0, label_fill))(labels, matrices)
  return images, labels


AUGMENTATIONS: Mapping[str, Augment] = {
    "flip": random_flip,
    "crop": random_crop,
    "color": color_jitter,
    "affine": random_affine,
}

# Augmentations that keep detection labels right: flip moves the boxes, colour leaves geometry alone.
BOX_AWARE = frozenset({"flip", "color"})


def check_box_aware(name: str) -> None:
  """Refuses, in one line, an augmentation that cannot move boxes (crop would cut them, affine rotate them)."""
  if name not in BOX_AWARE:
    raise InputError(f"config.augment.{name} does not move detection boxes (config.dataset.objects_key is set); "
                     f"drop it (--noconfig.augment.{name}) or use {sorted(BOX_AWARE)}")


def make_augment(augment_config: Mapping[str, Mapping]) -> Augment | None:
  """Composes the augmentations named in the config (name -> kwargs), each with its own key."""
  unknown = [name for name in augment_config if name not in AUGMENTATIONS]
  if unknown:
    raise InputError(f"config.augment names unknown augmentations {unknown}; known: {sorted(AUGMENTATIONS)}")
  chain = [functools.partial(AUGMENTATIONS[name], **dict(kwargs)) for name, kwargs in augment_config.items()]
  if not chain:
    return None

  def augment(rng, images, labels):
    for fn, key in zip(chain, jax.random.split(rng, len(chain))):
      images, labels = fn(key, images, labels)
    return images, labels

  return augment
