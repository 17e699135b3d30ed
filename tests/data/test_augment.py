"""Augmentations: shapes and ranges kept, keyed randomness, flip/crop statistics, affine identity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.data import augment


def _images(n=8, h=12, w=12, c=3, seed=0):
  return jax.random.uniform(jax.random.key(seed), (n, h, w, c))


def _labels(n=8):
  return jnp.arange(n) % 10


@pytest.mark.parametrize("name,kwargs", [
    ("flip", {}),
    ("crop", {"padding": 2}),
    ("color", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}),
    ("affine", {"rotation": 20.0, "scale": 0.1, "shear": 10.0, "translate": 0.1}),
])
def test_shape_range_and_keys(name, kwargs):
  fn = augment.AUGMENTATIONS[name]
  images, labels = _images(), _labels()
  out, out_labels = jax.jit(lambda k, x, y: fn(k, x, y, **kwargs))(jax.random.key(1), images, labels)
  assert out.shape == images.shape and out.dtype == images.dtype
  np.testing.assert_array_equal(out_labels, labels)
  assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
  again, _ = fn(jax.random.key(1), images, labels, **kwargs)
  np.testing.assert_allclose(out, again, atol=1e-6)
  other, _ = fn(jax.random.key(2), images, labels, **kwargs)
  assert not np.allclose(out, other)


def test_flip_frequency_is_half():
  n = 4000
  images = jnp.broadcast_to(jnp.arange(4.0)[None, None, :, None], (n, 1, 4, 1))
  out, _ = augment.random_flip(jax.random.key(0), images, jnp.zeros(n, jnp.int32))
  flipped = np.asarray(out[:, 0, 0, 0] == 3.0)
  assert abs(flipped.mean() - 0.5) < 0.03  # 4000 Bernoulli(0.5): std 0.008
  np.testing.assert_array_equal(np.asarray(out[~flipped]), np.asarray(images[~flipped]))


def test_crop_offsets_are_uniform_within_padding():
  n, pad, size = 9000, 2, 5
  # A single bright pixel at the centre reveals each example's offset.
  images = jnp.zeros((n, size, size, 1)).at[:, 2, 2, 0].set(1.0)
  out, _ = augment.random_crop(jax.random.key(0), images, jnp.zeros(n, jnp.int32), padding=pad)
  flat = np.asarray(out[..., 0]).reshape(n, -1)
  assert np.all(flat.sum(axis=1) == 1.0)  # the pixel never leaves a 2-pixel crop of a 5x5 image
  rows, cols = np.divmod(flat.argmax(axis=1), size)
  for coord in (rows, cols):
    counts = np.bincount(coord, minlength=size)  # offsets -2..2 move the pixel to 4..0
    assert counts.min() > 0.9 * n / size and counts.max() < 1.1 * n / size


def test_crop_moves_dense_labels_with_pixels():
  images = jax.random.uniform(jax.random.key(0), (16, 6, 6, 1))
  labels = jnp.round(images[..., 0] * 10).astype(jnp.int32) + 1
  out, out_labels = augment.random_crop(jax.random.key(3), images, labels, padding=2, label_fill=0)
  expected = jnp.where(out[..., 0] == 0, 0, jnp.round(out[..., 0] * 10).astype(jnp.int32) + 1)
  np.testing.assert_array_equal(out_labels, expected)


def test_affine_with_zero_parameters_is_identity():
  images, labels = _images(), jax.random.randint(jax.random.key(5), (8, 12, 12), 0, 21)
  out, out_labels = augment.random_affine(jax.random.key(0), images, labels)
  np.testing.assert_allclose(out, images, atol=1e-6)
  np.testing.assert_array_equal(out_labels, labels)


def test_affine_translation_shifts_pixels_and_labels_identically():
  images = jnp.zeros((1, 9, 9, 1)).at[0, 4, 4, 0].set(1.0)
  labels = jnp.zeros((1, 9, 9), jnp.int32).at[0, 4, 4].set(7)
  m = augment.affine_matrices(jax.random.key(0), 1, (9, 9), translate=0.3)
  shift = np.asarray(m[0, :2, 2])  # input = output + shift: the content moves by -shift
  out, out_labels = augment.random_affine(jax.random.key(0), images, labels, translate=0.3)
  assert out_labels.dtype == labels.dtype
  target = np.round(4 - shift).astype(int)
  assert int(out_labels[0, target[0], target[1]]) == 7 and int((out_labels > 0).sum()) == 1
  np.testing.assert_allclose(float(out.sum()), 1.0, atol=1e-5)  # bilinear mass is kept inside the image


def test_affine_rotation_by_90_degrees_matches_rot90():
  images = _images(1, 7, 7, 1)
  m = augment.affine_matrices(jax.random.key(0), 1, (7, 7), rotation=90.0)
  angle = np.degrees(np.arctan2(float(m[0, 1, 0]), float(m[0, 0, 0])))
  # Sample until the drawn angle is close to +-90, then compare with numpy's exact rotation.
  for seed in range(200):
    key = jax.random.key(seed)
    m = augment.affine_matrices(key, 1, (7, 7), rotation=90.0)
    angle = np.degrees(np.arctan2(float(m[0, 1, 0]), float(m[0, 0, 0])))
    if abs(abs(angle) - 90) < 0.5:
      break
  out, _ = augment.random_affine(key, images, jnp.zeros(1, jnp.int32), rotation=90.0)
  candidates = [np.rot90(np.asarray(images[0, :, :, 0]), k) for k in (1, 3)]
  assert min(np.abs(np.asarray(out[0, 1:-1, 1:-1, 0]) - c[1:-1, 1:-1]).max() for c in candidates) < 0.05


def test_color_jitter_identity_and_normalised_roundtrip():
  images = _images()
  same, _ = augment.color_jitter(jax.random.key(0), images, _labels())
  np.testing.assert_allclose(same, images, atol=1e-6)
  mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
  normalised = (images - jnp.asarray(mean)) / jnp.asarray(std)
  out, _ = augment.color_jitter(jax.random.key(0), normalised, _labels(), brightness=0.3, mean=mean, std=std)
  raw, _ = augment.color_jitter(jax.random.key(0), images, _labels(), brightness=0.3)
  np.testing.assert_allclose(out * jnp.asarray(std) + jnp.asarray(mean), raw, atol=1e-5)


def test_hue_rotation_keeps_grey_and_full_turn():
  grey = jnp.full((2, 3, 3, 3), 0.4)
  out, _ = augment.color_jitter(jax.random.key(0), grey, _labels(2), saturation=0.5, hue=0.5)
  np.testing.assert_allclose(out, grey, atol=1e-5)
  images = _images(2)
  np.testing.assert_allclose(augment._rotate_hue(images, jnp.ones(2)), images, atol=1e-5)


def test_each_example_gets_its_own_randomness():
  images = jnp.broadcast_to(_images(1), (16, 12, 12, 3))
  for name, kwargs in [("color", {"brightness": 0.5}), ("affine", {"rotation": 30.0})]:
    out, _ = augment.AUGMENTATIONS[name](jax.random.key(0), images, _labels(16), **kwargs)
    assert len({float(v) for v in np.asarray(out).reshape(16, -1).sum(1).round(4)}) == 16


def test_make_augment_composes_and_rejects_unknown():
  fn = augment.make_augment({"flip": {}, "affine": {"rotation": 10.0}, "color": {"brightness": 0.2}})
  images = _images()
  out, _ = jax.jit(fn)(jax.random.key(0), images, _labels())
  assert out.shape == images.shape
  assert augment.make_augment({}) is None
  with pytest.raises(ValueError, match="rotate"):
    augment.make_augment({"rotate": {}})
