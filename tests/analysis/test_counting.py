"""Parameter and multiply-add counting: the lecture's 1x1-convolution and connectivity examples, VGG-16's
published count, and the jaxpr walk through groups, transpose convs, einsum, scan, remat, custom_vjp, cond."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.analysis import connectivity_weights, count_multiply_adds, count_params, layer_table
from cnnjax.layers import BatchNorm, Conv, ConvTranspose, max_pool


class Inception5x5(nn.Module):
  """The lecture's example: 28x28x192 -> 32 filters 5x5 "same", optionally after 16 filters 1x1."""

  bottleneck: int | None = None

  @nn.compact
  def __call__(self, x):
    if self.bottleneck:
      x = Conv(self.bottleneck, 1, name="reduce")(x)
    return Conv(32, 5, padding=2, name="conv5x5")(x)


def test_lecture_one_by_one_convolution_cost():
  assert count_multiply_adds(Inception5x5(), (1, 28, 28, 192)) == 120_422_400
  rows = {r["name"]: r for r in layer_table(Inception5x5(bottleneck=16), (1, 28, 28, 192))}
  assert rows["reduce"]["multiply_adds"] == 2_408_448
  assert rows["conv5x5"]["multiply_adds"] == 10_035_200
  assert rows[""]["multiply_adds"] == 12_443_648
  assert rows["reduce"]["output_shape"] == (1, 28, 28, 16) and rows["conv5x5"]["output_shape"] == (1, 28, 28, 32)
  assert rows["reduce"]["params"] == 192 * 16 + 16 and rows["conv5x5"]["params"] == 25 * 16 * 32 + 32


def test_lecture_connectivity_example():
  assert connectivity_weights(7, 3, 3) == {"global": 21, "local": 9, "shared": 3}
  x = jnp.zeros((1, 7, 1))  # 7 inputs; 3 hidden units see 3 inputs each (stride 2)
  dense = jax.eval_shape(nn.Dense(3, use_bias=False).init, jax.random.key(0), x[:, :, 0])
  local = jax.eval_shape(nn.ConvLocal(1, (3,), strides=2, padding="VALID", use_bias=False).init,
                         jax.random.key(0), x)
  shared = jax.eval_shape(nn.Conv(1, (3,), strides=2, padding="VALID", use_bias=False).init, jax.random.key(0), x)
  assert [count_params(v) for v in (dense, local, shared)] == [21, 9, 3]
  with pytest.raises(ValueError, match="receptive_field"):
    connectivity_weights(3, 3, 5)


def test_count_params_excludes_batch_statistics():
  class Net(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
      x = BatchNorm(use_running_average=not train)(Conv(8, 3, padding=1, name="conv")(x))
      return nn.Dense(10, name="fc")(x.reshape(x.shape[0], -1))

  variables = jax.eval_shape(Net().init, jax.random.key(0), jnp.zeros((1, 4, 4, 3)))
  expected = (27 * 8 + 8) + (8 + 8) + (128 * 10 + 10)
  assert count_params(variables) == expected == count_params(variables["params"])
  macs = 16 * 27 * 8 + 128 * 10
  assert count_multiply_adds(Net(), (1, 4, 4, 3)) == count_multiply_adds(Net(), (1, 4, 4, 3), train=True) == macs
  assert count_params({"w": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17


def vgg16_conv_fc_macs():
  """Analytic VGG-16 multiply-adds at 224x224: 13 3x3 "same" convs and 3 FC layers."""
  total, size, channels = 0, 224, 3
  for stage, width in enumerate((64, 128, 256, 512, 512)):
    for _ in range((2, 2, 3, 3, 3)[stage]):
      total += size * size * 9 * channels * width
      channels = width
    size //= 2
  return total + 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000


class VGG16(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    for stage, width in enumerate((64, 128, 256, 512, 512)):
      for i in range((2, 2, 3, 3, 3)[stage]):
        x = nn.relu(Conv(width, 3, padding=1, name=f"conv{stage + 1}_{i + 1}")(x))
      x = max_pool(x, 2, 2)
    x = x.reshape(x.shape[0], -1)
    x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(4096, name="fc6")(x)))
    x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(4096, name="fc7")(x)))
    return nn.Dense(1000, name="fc8")(x)


def test_vgg16_published_multiply_adds_and_parameters():
  macs = count_multiply_adds(VGG16(), (1, 224, 224, 3))
  assert macs == vgg16_conv_fc_macs() == 15_470_264_320  # 15.47 G, the published convention
  assert count_multiply_adds(VGG16(), (2, 224, 224, 3), train=True) == 2 * macs  # dropout rng supplied
  rows = layer_table(VGG16(), (1, 224, 224, 3))
  assert rows[0]["name"] == "" and rows[0]["params"] == 138_357_544 and rows[0]["multiply_adds"] == macs
  assert [r["name"] for r in rows[1:3]] == ["conv1_1", "conv1_2"]
  leaves = [r for r in rows if r["module"] in ("Conv", "Dense")]
  assert len(leaves) == 16 and sum(r["multiply_adds"] for r in leaves) == macs
  assert {r["name"]: r["output_shape"] for r in rows}["fc6"] == (1, 4096)


def test_grouped_and_transpose_convolutions():
  grouped = Conv(64, 3, padding=1, groups=4, use_bias=False)
  assert count_multiply_adds(grouped, (1, 8, 8, 64)) == 8 * 8 * 64 * 9 * 16
  up = ConvTranspose(4, 3, stride=2, padding=1, output_padding=1)
  assert count_multiply_adds(up, (2, 5, 5, 6)) == 2 * 25 * 9 * 6 * 4  # inputs x taps x C_in x C_out
  # Kernel no larger than the stride: sub-pixel lowering, a dense 1x1 conv with 2*2 phases x 4 maps out.
  assert count_multiply_adds(ConvTranspose(4, 2, stride=2), (2, 5, 5, 6)) == 2 * 25 * 6 * (4 * 4)
  up_grouped = ConvTranspose(4, 2, stride=2, groups=2)
  assert count_multiply_adds(up_grouped, (1, 5, 5, 6)) == 25 * 4 * 3 * 4


class Mixed(nn.Module):
  """Matrix products hidden in einsum, scan, remat, custom_vjp and cond."""

  @nn.compact
  def __call__(self, x):
    a = jnp.einsum("bij,bjk->bik", x, jnp.ones((2, 4, 5)))  # 2 * 3 * 4 * 5
    h = nn.Dense(4, name="proj")(a)                           # 2 * 3 * 5 * 4
    body = nn.scan(lambda mdl, c, _: (nn.Dense(4, name="cell")(c), None), variable_broadcast="params",
                   split_rngs={"params": False}, length=3)
    h, _ = body(self, h, None)                                # 3 * (2 * 3 * 4 * 4)
    h = nn.remat(nn.Dense)(4, name="remat")(h)                # 2 * 3 * 4 * 4

    @jax.custom_vjp
    def square(m):
      return m @ m.swapaxes(-1, -2)                           # 2 * 3 * 4 * 3

    square.defvjp(lambda m: (square(m), m), lambda m, g: (g @ m + g.swapaxes(-1, -2) @ m,))
    s = square(h)
    big = lambda s: jnp.einsum("bij,bjk->bik", s, s)          # 2 * 3 * 3 * 3: the larger branch counts
    return jax.lax.cond(s.sum() > 0, big, lambda s: s, s)


def test_jaxpr_walk_counts_nested_products():
  expected = 120 + 120 + 3 * 96 + 96 + 72 + 54
  assert count_multiply_adds(Mixed(), (2, 3, 4)) == expected
  rows = {r["name"]: r["multiply_adds"] for r in layer_table(Mixed(), (2, 3, 4))}
  assert rows["proj"] == 120 and rows["cell"] == 3 * 96 and rows["remat"] == 96 and rows[""] == expected


class Lifted(nn.Module):
  """Blocks under nn.scan over a module class and heads under nn.vmap (name stacks "vmap(heads)")."""

  @nn.compact
  def __call__(self, x):
    x = Conv(4, 1, name="stem")(x)
    blocks = nn.scan(ScanBlock, variable_axes={"params": 0}, split_rngs={"params": True}, length=3)
    x, _ = blocks(name="blocks")(x, None)
    return nn.vmap(nn.Dense, variable_axes={"params": 0}, split_rngs={"params": True})(5, name="heads")(x)


class ScanBlock(nn.Module):
  @nn.compact
  def __call__(self, x, _):
    return nn.relu(Conv(4, 3, padding=1, name="conv")(x)), None


def test_layer_table_attributes_lifted_transforms():
  rows = {r["name"]: r for r in layer_table(Lifted(), (2, 6, 6, 3))}
  assert rows["stem"]["multiply_adds"] == 2 * 36 * 3 * 4
  assert rows["blocks"]["multiply_adds"] == rows["blocks/conv"]["multiply_adds"] == 3 * 2 * 36 * 36 * 4
  assert rows["blocks"]["params"] == 3 * (36 * 4 + 4)
  assert rows["heads"]["multiply_adds"] == 2 * 36 * 4 * 5 and rows["heads"]["params"] == 2 * (4 * 5 + 5)
  assert rows[""]["multiply_adds"] == sum(rows[k]["multiply_adds"] for k in ("stem", "blocks", "heads"))
