"""U-Net: a contracting path of 3x3 convolutions and 2x2 max pools, an expanding path of 2x2 up-convolutions
with skip connections concatenated from the contracting path, and a 1x1 classifier per pixel.

Why: Ronneberger, Fischer & Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation". `unet` is the paper's network (unpadded convolutions, skips centre-cropped,
572x572 input -> 388x388 output, 64..1024 channels); `unet_padded` uses 'SAME' convolutions so its
output matches its input (height and width divisible by 2**depth). `features` is the width of the
first level (64 in the paper; smaller values act as a width multiplier), `batch_norm=True` adds `norm`
(cnnjax.layers.BatchNorm by default) after every 3x3 convolution (not in the paper; it speeds up training
from scratch). `conv`, `norm` and `max_pool` are the injectable blocks, with plain defaults.

Shapes: [N, H, W, C_in] -> [N, H', W', num_classes], H' = H (padded) or unet_output_size(H) (unpadded).
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ConvTranspose, ModuleDef, center_crop, max_pool


def unet_output_size(size: int, depth: int = 4, padded: bool = False) -> int:
  """Output height/width of a U-Net for input `size`; raises ValueError when `size` does not fit."""
  n = size
  for level in range(depth):
    n = n if padded else n - 4
    if n <= 0 or n % 2:
      fit = "divisible by 2**depth" if padded else "such that every size before a pool is even (e.g. 572, 188)"
      raise ValueError(f"U-Net input size {size} gives a feature map of {n} before pool {level + 1}; "
                       f"use an input size {fit}")
    n //= 2
  n = n if padded else n - 4
  for _ in range(depth):
    n = 2 * n if padded else 2 * n - 4
  if n <= 0:
    raise ValueError(f"U-Net input size {size} is too small for depth {depth}; use at least 188 (unpadded)")
  return n


class DoubleConv(nn.Module):
  """Two 3x3 convolutions, each followed (optionally by batch norm and) by ReLU."""

  features: int
  padding: str
  batch_norm: bool
  dtype: Any
  conv: ModuleDef
  norm: ModuleDef

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(self.conv, self.features, (3, 3), padding=self.padding, dtype=self.dtype,
                             use_bias=not self.batch_norm)
    for i in range(2):
      x = conv(name=f"conv{i + 1}")(x)
      if self.batch_norm:
        x = self.norm(use_running_average=not train, dtype=self.dtype, name=f"bn{i + 1}")(x)
      x = nn.relu(x)
    return x


class UNet(nn.Module):
  """Ronneberger et al.'s U-Net with `depth` poolings; see the module docstring."""

  num_classes: int = 2
  features: int = 64
  depth: int = 4
  padded: bool = False
  batch_norm: bool = False
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm
  max_pool: Callable = max_pool

  @nn.compact
  def __call__(self, x, train: bool = False):
    unet_output_size(x.shape[1], self.depth, self.padded)
    unet_output_size(x.shape[2], self.depth, self.padded)
    block = functools.partial(DoubleConv, padding="SAME" if self.padded else "VALID", batch_norm=self.batch_norm,
                              dtype=self.dtype, conv=self.conv, norm=self.norm)
    x = x.astype(self.dtype)
    skips = []
    for level in range(self.depth):
      x = block(self.features * 2 ** level, name=f"down{level + 1}")(x, train)
      skips.append(x)
      x = self.max_pool(x, 2, 2)
    x = block(self.features * 2 ** self.depth, name="bottleneck")(x, train)
    for level in reversed(range(self.depth)):
      width = self.features * 2 ** level
      x = ConvTranspose(width, 2, stride=2, dtype=self.dtype, name=f"upconv{level + 1}")(x)
      skip = center_crop(skips[level], x.shape[1], x.shape[2])
      x = block(width, name=f"up{level + 1}")(jnp.concatenate([skip, x], axis=-1), train)
    return self.conv(self.num_classes, (1, 1), dtype=self.dtype, name="classifier")(x)


unet = functools.partial(UNet, padded=False)
unet_padded = functools.partial(UNet, padded=True)
