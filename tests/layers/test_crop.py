"""center_crop: exact offsets for even and odd margins, label maps, numpy and jit, and its errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers.crop import center_crop


def torchvision_top(margin: int) -> int:
  """torchvision.transforms.functional.center_crop's offset: int(round(margin / 2)), half to even (Python round)."""
  return int(round(margin / 2.0))


def positions(n, h, w):
  """[N, H, W] maps whose value says where it is: 1000 n + 100 row + column (every crop is then unique)."""
  return 1000 * np.arange(n)[:, None, None] + 100 * np.arange(h)[None, :, None] + np.arange(w)[None, None, :]


@pytest.mark.parametrize("size, crop, top", [
    (8, 8, 0),   # margin 0: the identity
    (8, 4, 2),   # even margins: 2 either side
    (572, 388, 92),  # U-Net's input and output (Ronneberger et al. 2015)
    (64, 56, 4),
    (7, 6, 0),   # margin 1: the extra row is cut at the bottom
    (9, 6, 1),   # margin 3: one row above, two below
    (10, 5, 2),  # margin 5
    (12, 5, 3),  # margin 7
    (5, 1, 2),
])
def test_offsets(size, crop, top):
  x = positions(2, size, size + 3)
  out = center_crop(x, crop, crop + 1)
  left = (size + 3 - crop - 1) // 2
  assert out.shape == (2, crop, crop + 1)
  np.testing.assert_array_equal(out, x[:, top:top + crop, left:left + crop + 1])
  assert out[0, 0, 0] == 100 * top + left  # where the window starts


@pytest.mark.parametrize("margin", range(12))
def test_offsets_against_torchvisions_rule(margin):
  """Equal for even margins and margins 1, 5, 9, ...; for 3, 7, 11, ... torchvision's half-to-even rounding
  puts the extra row on top, this function (like the three copies it replaced) at the bottom."""
  x = positions(1, 4 + margin, 4)
  top = int(center_crop(x, 4, 4)[0, 0, 0]) // 100
  assert top == margin // 2
  assert (top == torchvision_top(margin)) == (margin % 4 != 3)


def test_nhwc_features_keep_their_channels():
  x = np.random.default_rng(0).standard_normal((3, 11, 9, 5)).astype(np.float32)
  out = center_crop(x, 6, 4)
  assert out.shape == (3, 6, 4, 5)
  np.testing.assert_array_equal(out, x[:, 2:8, 2:6, :])


def test_jax_arrays_under_jit_match_numpy():
  x = positions(2, 10, 13)
  out = jax.jit(lambda a: center_crop(a, 4, 6))(jnp.asarray(x))
  assert isinstance(out, jax.Array)
  np.testing.assert_array_equal(np.asarray(out), center_crop(x, 4, 6))
  np.testing.assert_array_equal(np.asarray(out), x[:, 3:7, 3:9])


@pytest.mark.parametrize("shape, height, width, match", [
    ((1, 4, 4), 5, 4, "5x4 does not fit maps of 4x4"),
    ((1, 4, 4, 3), 4, 6, "4x6 does not fit maps of 4x4"),
    ((1, 4, 4), 0, 4, "at least 1x1"),
    ((4, 4), 2, 2, r"\[N, H, W\]"),
])
def test_errors_name_the_sizes(shape, height, width, match):
  with pytest.raises(ValueError, match=match):
    center_crop(np.zeros(shape), height, width)
