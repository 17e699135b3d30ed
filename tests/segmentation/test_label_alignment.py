"""Augmentations that move pixels move dense labels identically (flip, crop, affine)."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.data.augment import random_affine, random_crop, random_flip


def _blocky_pair(n=4, size=32, seed=0):
  """Labels in 8x8 blocks of classes 1..5 and an image whose pixel value is 10 x its label."""
  rng = np.random.default_rng(seed)
  blocks = rng.integers(1, 6, (n, size // 8, size // 8))
  labels = np.repeat(np.repeat(blocks, 8, 1), 8, 2).astype(np.int32)
  images = (10.0 * labels)[..., None].astype(np.float32)
  return jnp.asarray(images), jnp.asarray(labels)


def test_flip_moves_labels_with_pixels():
  images, labels = _blocky_pair()
  out_images, out_labels = random_flip(jax.random.key(0), images, labels, probability=0.5)
  np.testing.assert_array_equal(out_images[..., 0], 10.0 * out_labels)
  flipped = np.asarray(out_labels != labels).any(axis=(1, 2))
  assert flipped.any()


def test_crop_moves_labels_with_pixels_and_fills_with_the_ignore_label():
  images, labels = _blocky_pair()
  out_images, out_labels = random_crop(jax.random.key(1), images, labels, padding=5, label_fill=255)
  real = np.asarray(out_labels) != 255
  np.testing.assert_array_equal(np.asarray(out_images[..., 0])[real], 10.0 * np.asarray(out_labels)[real])
  np.testing.assert_array_equal(np.asarray(out_images[..., 0])[~real], 0.0)
  assert (~real).any()


def test_affine_moves_labels_with_pixels():
  """Bilinear image and nearest labels agree wherever the image is not blended across a label edge."""
  images, labels = _blocky_pair(n=6, size=48)
  out_images, out_labels = random_affine(jax.random.key(2), images, labels, rotation=30.0, scale=0.2, shear=10.0,
                                         translate=0.1, fill=0.0, label_fill=0)
  out_images, out_labels = np.asarray(out_images[..., 0]), np.asarray(out_labels)
  assert not np.array_equal(out_labels, np.asarray(labels))

  def uniform_agreement(lab):
    agree = np.isclose(out_images, 10.0 * lab, atol=1e-3)
    # pixels whose 3x3 neighbourhood has one label cannot be blended: there image and label must agree
    padded = np.pad(lab, ((0, 0), (1, 1), (1, 1)), mode="edge")
    windows = np.stack([padded[:, i:i + 48, j:j + 48] for i in range(3) for j in range(3)])
    return agree[(windows == lab).all(0)].mean()

  assert uniform_agreement(out_labels) > 0.99
  assert uniform_agreement(np.roll(out_labels, 2, axis=2)) < 0.9  # a 2-pixel misalignment would show
