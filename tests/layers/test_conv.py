"""Convolution arithmetic, the torch-style Conv factory (vs torch.nn.functional.conv2d), Dense and 1x1 conv."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import Conv, conv_output_size, same_padding
from tests.layers.parity import assert_close

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
F = torch.nn.functional


def random_variables(module, x, rng):
  """Variables of `module` with random normal values from numpy (no jax.random compile in tests)."""
  shapes = jax.eval_shape(module.init, jax.random.key(0), x)
  return jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32), shapes)


@pytest.mark.parametrize("n, f, stride, padding, expected", [
    (7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 3, 1, 3), (32, 5, 1, 2, 32), (227, 11, 4, 0, 55), (28, 5, 1, 0, 24)])
def test_conv_output_size_lecture_examples(n, f, stride, padding, expected):
  assert conv_output_size(n, f, stride, padding) == expected


def test_conv_output_size_rejects_filter_that_does_not_tile():
  with pytest.raises(ValueError, match=r"2\.33.*padding=1"):
    conv_output_size(7, 3, stride=3)
  with pytest.raises(ValueError, match="does not fit"):
    conv_output_size(3, 5)


def test_conv_output_size_floors_like_torch_when_not_strict():
  assert conv_output_size(224, 7, 2, 3, strict=False) == 112  # ResNet's stem: 111.5 + 1 floors to 112
  assert conv_output_size(7, 3, 3, strict=False) == 2
  with pytest.raises(ValueError, match="strict=False"):
    conv_output_size(224, 7, 2, 3)


def test_conv_output_size_dilation():
  assert conv_output_size(9, 3, dilation=2) == 5
  assert conv_output_size(9, 3, padding=2, dilation=2) == 9


def test_same_padding():
  assert [same_padding(f) for f in (1, 3, 5, 7, 11)] == [0, 1, 2, 3, 5]
  assert same_padding(3, dilation=2) == 2
  with pytest.raises(ValueError, match="odd"):
    same_padding(4)


@pytest.mark.parametrize("shape, features, kernel, stride, padding, dilation, groups", [
    ((2, 9, 9, 3), 4, 3, 1, 0, 1, 1),
    ((2, 10, 11, 4), 6, 3, 2, 1, 1, 1),
    ((1, 12, 12, 4), 8, 3, 1, 2, 2, 1),
    ((2, 8, 8, 8), 8, 3, 1, 1, 1, 4),
    ((1, 9, 7, 6), 6, 3, 2, 1, 1, 6),
    ((1, 13, 13, 3), 5, 5, 3, 2, 1, 1),
    ((2, 6, 6, 5), 7, 1, 1, 0, 1, 1),
])
def test_conv_matches_torch_conv2d(shape, features, kernel, stride, padding, dilation, groups):
  rng = np.random.default_rng(0)
  x = rng.standard_normal(shape, np.float32)
  layer = Conv(features, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)
  variables = random_variables(layer, x, rng)
  y = layer.apply(variables, x)
  k = variables["params"]["kernel"]
  assert k.shape == (kernel, kernel, shape[-1] // groups, features)
  ref = F.conv2d(torch.tensor(np.asarray(x)).permute(0, 3, 1, 2), torch.tensor(np.asarray(k)).permute(3, 2, 0, 1),
                 torch.tensor(np.asarray(variables["params"]["bias"])), stride=stride, padding=padding,
                 dilation=dilation, groups=groups)
  assert_close(y, ref.permute(0, 2, 3, 1).numpy())


def test_conv_output_shape_follows_the_formula():
  x = jnp.zeros((1, 13, 13, 3))
  y = jax.eval_shape(lambda x: Conv(4, 5, stride=2, padding=2).init_with_output(jax.random.key(0), x)[0], x)
  assert y.shape == (1, conv_output_size(13, 5, 2, 2), conv_output_size(13, 5, 2, 2), 4)


def test_conv_accepts_torch_padding_strings():
  x = jnp.zeros((1, 7, 7, 2))
  for padding, size in (("same", 7), ("valid", 3)):
    y = jax.eval_shape(lambda x: Conv(3, 5, padding=padding).init_with_output(jax.random.key(0), x)[0], x)
    assert y.shape == (1, size, size, 3)


def test_conv_rejects_groups_that_do_not_divide():
  with pytest.raises(ValueError, match="groups"):
    Conv(6, 3, groups=4)


def test_dense_matches_torch_linear_and_1x1_conv():
  rng = np.random.default_rng(1)
  x = rng.standard_normal((2, 5, 5, 7), np.float32)
  dense = nn.Dense(3)
  kernel, bias = rng.standard_normal((7, 3), np.float32), rng.standard_normal(3, np.float32)
  y = dense.apply({"params": {"kernel": kernel, "bias": bias}}, x)
  ref = F.linear(torch.tensor(np.asarray(x)), torch.tensor(np.asarray(kernel)).T, torch.tensor(np.asarray(bias)))
  assert_close(y, ref.numpy())
  conv = Conv(3, 1)
  y1 = conv.apply({"params": {"kernel": kernel[None, None], "bias": bias}}, x)
  assert_close(y1, y)
