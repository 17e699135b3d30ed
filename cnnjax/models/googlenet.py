"""GoogLeNet / Inception v1 (Szegedy et al. 2015) with 1x1 reductions, in torchvision's form.

Each convolution is conv (no bias) + BN (eps 1e-3) + ReLU, as torchvision's BasicConv2d. As in
torchvision (and its published 6,624,904 parameters / 1.5 G multiply-adds), the "5x5" branch uses a
3x3 kernel; `branch3_kernel=5` gives the paper's 5x5 (7,005,832 parameters without aux heads).
Auxiliary classifiers after inception4a and 4d (`aux_logits=True`, off by default) run only in
training and are returned through the "intermediates" collection as "aux1_logits" / "aux2_logits"
(`model.apply(..., mutable=["batch_stats", "intermediates"])`); the main output is always the logits.
`transform_input=True` is torchvision's option of that name, which its ImageNet weights expect: inputs
normalised with the ImageNet mean/std are re-normalised to (x - 0.5) / 0.5 per channel (RGB) first;
cnnjax.weights sets it for torchvision GoogLeNet weights.
[N, H, W, C] -> [N, num_classes] logits in float32.
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ModuleDef, adaptive_avg_pool, max_pool

# name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), Table 1 of the paper.
INCEPTION = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
# A max pool (3x3/2, ceil mode; 2x2/2 before stage 5) follows these modules.
POOL_AFTER = {"inception3b": 3, "inception4e": 2}

conv_init = nn.initializers.truncated_normal(0.01)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def imagenet_to_half_normalised(x):
  """torchvision GoogLeNet's transform_input: ImageNet-normalised RGB -> (x - 0.5) / 0.5. [..., 3] -> [..., 3]."""
  scale = jnp.asarray(IMAGENET_STD) / 0.5
  shift = (jnp.asarray(IMAGENET_MEAN) - 0.5) / 0.5
  return x * scale.astype(x.dtype) + shift.astype(x.dtype)


class BasicConv(nn.Module):
  """conv (no bias) -> BN -> ReLU: [N, H, W, C] -> [N, H', W', features]."""

  features: int
  kernel: int = 1
  stride: int = 1
  padding: int = 0
  train: bool = False
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm

  @nn.compact
  def __call__(self, x):
    x = self.conv(self.features, (self.kernel, self.kernel), strides=(self.stride, self.stride),
                  padding=self.padding, use_bias=False, kernel_init=conv_init, dtype=self.dtype, name="conv")(x)
    x = self.norm(use_running_average=not self.train, epsilon=1e-3, dtype=self.dtype, name="bn")(x)  # torchvision's
    return nn.relu(x)


class Inception(nn.Module):
  """Four parallel branches concatenated on channels: 1x1 | 1x1->3x3 | 1x1->kxk | 3x3 max pool->1x1.

  [N, H, W, C] -> [N, H, W, c1 + c3 + c5 + pool_proj].
  """

  widths: Sequence[int]
  conv: Any
  branch3_kernel: int = 3

  @nn.compact
  def __call__(self, x):
    c1, r3, c3, r5, c5, proj = self.widths
    b1 = self.conv(c1, name="branch1")(x)
    b2 = self.conv(c3, 3, padding=1, name="branch2_conv")(self.conv(r3, name="branch2_reduce")(x))
    b3 = self.conv(c5, self.branch3_kernel, padding=self.branch3_kernel // 2, name="branch3_conv")(
        self.conv(r5, name="branch3_reduce")(x))
    b4 = self.conv(proj, name="branch4_proj")(max_pool(x, 3, 1, 1, ceil_mode=True))
    return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class InceptionAux(nn.Module):
  """Auxiliary head: 4x4 average pool -> 1x1 conv 128 -> FC 1024 -> dropout 0.7 -> FC classes."""

  num_classes: int
  conv: Any
  train: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = self.conv(128, name="conv")(adaptive_avg_pool(x, (4, 4)))
    x = nn.relu(nn.Dense(1024, dtype=self.dtype, name="fc1")(x.reshape((x.shape[0], -1))))
    x = nn.Dropout(0.7, deterministic=not self.train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc2")(x)


class GoogLeNet(nn.Module):
  """Stem (7x7/2, pool, 1x1, 3x3, pool), nine Inception modules, global average pool, dropout 0.2, FC."""

  num_classes: int = 1000
  aux_logits: bool = False
  branch3_kernel: int = 3
  dropout_rate: float = 0.2
  transform_input: bool = False
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(BasicConv, train=train, dtype=self.dtype, conv=self.conv, norm=self.norm)
    x = x.astype(self.dtype)
    if self.transform_input:
      x = imagenet_to_half_normalised(x)
    x = conv(64, 7, stride=2, padding=3, name="conv1")(x)
    x = max_pool(x, 3, 2, ceil_mode=True)
    x = conv(64, name="conv2")(x)
    x = conv(192, 3, padding=1, name="conv3")(x)
    x = max_pool(x, 3, 2, ceil_mode=True)
    for name, widths in INCEPTION.items():
      x = Inception(widths, conv, self.branch3_kernel, name=name)(x)
      if self.aux_logits and (train or self.is_initializing()) and name in ("inception4a", "inception4d"):
        aux_name = "aux1" if name == "inception4a" else "aux2"
        aux = InceptionAux(self.num_classes, conv, train=train, dtype=self.dtype, name=aux_name)(x)
        if train:
          self.sow("intermediates", f"{aux_name}_logits", aux.astype(jnp.float32))
      if name in POOL_AFTER:
        x = max_pool(x, POOL_AFTER[name], 2, ceil_mode=True)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)
    return x.astype(jnp.float32)


googlenet = GoogLeNet
