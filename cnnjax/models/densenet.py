"""DenseNet-BC (Huang et al. 2017): ImageNet DenseNet-121/169/201 (torchvision) and CIFAR DenseNet-BC-100 (k=12).

Each dense layer is BN-ReLU-conv1x1 (bn_size * k) - BN-ReLU-conv3x3 (k), its output concatenated
to its input; transitions are BN-ReLU-conv1x1 (compression 0.5) - 2x2 average pool.
[N, H, W, C] -> [N, num_classes] logits in float32.

Intermediate feature maps: `model.apply(variables, x, method=DenseNet.features)` -> dict with
"stem" and "block1" ... "blockN" (each dense block's output, before its transition; the last one
after the final BN-ReLU).
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ModuleDef, avg_pool, max_pool

conv_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")  # torchvision's kaiming_normal_
STEMS = ("imagenet", "cifar")


class DenseLayer(nn.Module):
  """Bottleneck layer: [N, H, W, C] -> [N, H, W, C + growth_rate]."""

  growth_rate: int
  bn_size: int
  norm: Any
  conv: Any

  @nn.compact
  def __call__(self, x):
    y = self.conv(self.bn_size * self.growth_rate, (1, 1), name="conv1")(nn.relu(self.norm(name="norm1")(x)))
    y = self.conv(self.growth_rate, (3, 3), padding=((1, 1), (1, 1)), name="conv2")(nn.relu(self.norm(name="norm2")(y)))
    return jnp.concatenate([x, y], axis=-1)


class Transition(nn.Module):
  """BN-ReLU-conv1x1-avgpool 2x2: [N, H, W, C] -> [N, H/2, W/2, floor(C * compression)]."""

  features: int
  norm: Any
  conv: Any

  @nn.compact
  def __call__(self, x):
    x = self.conv(self.features, (1, 1), name="conv")(nn.relu(self.norm(name="norm")(x)))
    return avg_pool(x, 2, 2)


class DenseNet(nn.Module):
  """Stem, dense blocks joined by compressing transitions, final BN-ReLU, global pool, FC."""

  block_sizes: Sequence[int] = (6, 12, 24, 16)
  growth_rate: int = 32
  num_init_features: int = 64
  bn_size: int = 4
  compression: float = 0.5
  stem: str = "imagenet"
  num_classes: int = 1000
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm

  @nn.compact
  def __call__(self, x, train: bool = False, return_features: bool = False):
    if self.stem not in STEMS:
      raise ValueError(f"DenseNet stem={self.stem!r} is unknown; use one of {STEMS}")
    conv = functools.partial(self.conv, use_bias=False, kernel_init=conv_init, dtype=self.dtype)
    norm = functools.partial(self.norm, use_running_average=not train, dtype=self.dtype)
    features = {}
    x = x.astype(self.dtype)
    if self.stem == "imagenet":
      x = conv(self.num_init_features, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), name="conv0")(x)
      x = max_pool(nn.relu(norm(name="norm0")(x)), 3, 2, 1)
    else:
      x = conv(self.num_init_features, (3, 3), padding=((1, 1), (1, 1)), name="conv0")(x)
    features["stem"] = x
    for i, size in enumerate(self.block_sizes, start=1):
      for j in range(size):
        x = DenseLayer(self.growth_rate, self.bn_size, norm, conv, name=f"block{i}_layer{j + 1}")(x)
      if i < len(self.block_sizes):
        features[f"block{i}"] = x
        x = Transition(int(x.shape[-1] * self.compression), norm, conv, name=f"transition{i}")(x)
    x = nn.relu(norm(name="norm_final")(x))
    features[f"block{len(self.block_sizes)}"] = x
    if return_features:
      return features
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(x).astype(jnp.float32)

  def features(self, x, train: bool = False) -> dict:
    """Named intermediate feature maps (see the module docstring)."""
    return self(x, train, return_features=True)


densenet121 = functools.partial(DenseNet, block_sizes=(6, 12, 24, 16))
densenet169 = functools.partial(DenseNet, block_sizes=(6, 12, 32, 32))
densenet201 = functools.partial(DenseNet, block_sizes=(6, 12, 48, 32))
# Depth 100 = 3 blocks x 16 bottleneck layers x 2 convs + 4; stem of 2k = 24 channels.
densenet_bc_100_k12 = functools.partial(DenseNet, block_sizes=(16, 16, 16), growth_rate=12, num_init_features=24,
                                        stem="cifar", num_classes=10)
