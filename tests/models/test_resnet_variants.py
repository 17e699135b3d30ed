"""ResNet v1 (stride on the bottleneck's first 1x1) reproduces the SENet table's costs; shortcut="none" is a plain net."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.commands import summary
from cnnjax.layers import BatchNorm
from cnnjax.models import get_model
from cnnjax.models.resnet import BasicBlock

# Hu et al. 2018 (SENet), Table 2: GFLOPs (multiply-adds) of the original ResNets at 224x224.
SENET_GFLOPS = {"resnet50": 3.86, "resnet101": 7.58, "resnet152": 11.30}


@pytest.mark.parametrize("name", sorted(SENET_GFLOPS))
def test_v1_gives_the_senet_tables_multiply_adds(name):
  v1 = summary.summarize(name, kwargs={"variant": "v1"})
  assert abs(v1["multiply_adds"] / 1e9 / SENET_GFLOPS[name] - 1) < 0.01
  assert v1["kwargs"] == {"variant": "v1"}


def test_v1_strides_the_first_1x1():
  """The same weights as torchvision's v1.5; the first 1x1 of each stage's first block runs at the lower
  resolution, which saves 0.23 G multiply-adds in ResNet-50."""
  v1, v15 = summary.summarize("resnet50", kwargs={"variant": "v1"}), summary.summarize("resnet50")
  assert v1["params"] == v15["params"] == 25_557_032
  assert v15["multiply_adds"] - v1["multiply_adds"] == 231_211_008
  rows = {r["name"]: r for r in v1["layers"]}
  assert rows["layer2_block0/conv1"]["output_shape"] == [28, 28, 128]
  assert rows["layer2_block0/conv2"]["output_shape"] == [28, 28, 128]
  rows = {r["name"]: r for r in v15["layers"]}
  assert rows["layer2_block0/conv1"]["output_shape"] == [56, 56, 128]


def test_unknown_variant_and_shortcut_are_refused():
  x = jnp.zeros((1, 32, 32, 3))
  for kwargs, match in (({"variant": "v2"}, "variant='v2'"), ({"shortcut": "plain"}, "shortcut='plain'")):
    with pytest.raises(ValueError, match=match):
      jax.eval_shape(get_model("resnet18", num_classes=10, **kwargs).init, jax.random.key(0), x)


def test_plain_resnet18_loses_exactly_the_projection_shortcuts():
  """Stages 2-4 each lose a 1x1 conv and its BN: 64*128 + 128*256 + 256*512 weights, 2 * (128 + 256 + 512) BN."""
  assert summary.summarize("resnet18", kwargs={"shortcut": "none"})["params"] == 11_689_512 - 172_032 - 1_792
  # Option A has no parameters, so plain-20 and ResNet-20 have the same 269,722 (3-channel input).
  assert summary.summarize("cifar_resnet20", kwargs={"shortcut": "none"})["params"] == 269_722


@pytest.mark.parametrize("shortcut", ["none", "zero_pad", "projection"])
def test_a_block_with_zero_weights_passes_x_only_through_its_shortcut(shortcut):
  """With all convolutions zero the residual branch gives relu(BN(0)) = 0: a residual block returns relu(x),
  a plain one returns 0."""
  block = BasicBlock(16, strides=1, conv=functools.partial(nn.Conv, use_bias=False, kernel_init=nn.initializers.zeros),
                     norm=functools.partial(BatchNorm, use_running_average=True), act=nn.relu, shortcut=shortcut)
  x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 16), minval=0.1)
  y = block.apply(block.init(jax.random.key(1), x), x)
  np.testing.assert_allclose(y, 0.0 if shortcut == "none" else x, atol=1e-6)
