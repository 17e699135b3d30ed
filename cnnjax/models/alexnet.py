"""AlexNet: the lecture's (Krizhevsky et al. 2012, 227x227 input, LRN) and torchvision's single-tower variant.

`alexnet` reproduces the lecture's table (227x227x3 input):
CONV1 55x55x96, POOL1 27x27x96, NORM1 27x27x96, CONV2 27x27x256, POOL2 13x13x256, NORM2 13x13x256,
CONV3 13x13x384, CONV4 13x13x384, CONV5 13x13x256, POOL3 6x6x256, FC6 4096, FC7 4096, FC8 1000;
62,378,344 parameters in one tower (`groups=2` splits CONV2/4/5 over two GPUs as the paper did:
60,965,224). `alexnet_torchvision` (Krizhevsky 2014, "one weird trick") has 64/192/384/256/256
filters, no LRN and an adaptive 6x6 pool: 61,100,840 parameters at 224x224.
[N, H, W, C] -> [N, num_classes] logits in float32.
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import LocalResponseNorm, ModuleDef, adaptive_avg_pool, max_pool

dense_init = nn.initializers.normal(0.01)


class MaxPool(nn.Module):
  """Max pooling as a module, so that model summaries list it as a layer (POOL1 ...).

  [N, H, W, C] -> [N, H', W', C] (torch's output-size rule, see cnnjax.layers.max_pool).
  """

  window: int = 3
  stride: int = 2
  padding: int = 0
  ceil_mode: bool = False

  @nn.compact
  def __call__(self, x):
    return max_pool(x, self.window, self.stride, self.padding, self.ceil_mode)


class AlexNet(nn.Module):
  """Five convolutions (11x11/4, 5x5, 3x3 x3), three 3x3/2 max pools, optional LRN, three FC layers."""

  widths: Sequence[int] = (96, 256, 384, 384, 256)
  conv1_padding: int = 0
  groups: int = 1
  local_response_norm: bool = True
  adaptive_pool: bool = False
  dropout_first: bool = False
  num_classes: int = 1000
  hidden_size: int = 4096
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(self.conv, dtype=self.dtype)
    groups = (1, self.groups, 1, self.groups, self.groups)
    x = x.astype(self.dtype)
    x = nn.relu(conv(self.widths[0], (11, 11), strides=(4, 4), padding=self.conv1_padding, name="conv1")(x))
    x = MaxPool(name="pool1")(x)
    if self.local_response_norm:
      x = LocalResponseNorm(name="norm1")(x)
    x = nn.relu(conv(self.widths[1], (5, 5), padding=2, feature_group_count=groups[1], name="conv2")(x))
    x = MaxPool(name="pool2")(x)
    if self.local_response_norm:
      x = LocalResponseNorm(name="norm2")(x)
    for i in (2, 3, 4):
      x = nn.relu(conv(self.widths[i], (3, 3), padding=1, feature_group_count=groups[i], name=f"conv{i + 1}")(x))
    x = MaxPool(name="pool3")(x)
    if self.adaptive_pool:
      x = adaptive_avg_pool(x, (6, 6))
    x = x.reshape((x.shape[0], -1))
    for name in ("fc6", "fc7"):
      if self.dropout_first:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      x = nn.relu(nn.Dense(self.hidden_size, kernel_init=dense_init, dtype=self.dtype, name=name)(x))
      if not self.dropout_first:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Dense(self.num_classes, kernel_init=dense_init, dtype=self.dtype, name="fc8")(x)
    return x.astype(jnp.float32)


alexnet = AlexNet
alexnet_torchvision = functools.partial(AlexNet, widths=(64, 192, 384, 256, 256), conv1_padding=2,
                                        local_response_norm=False, adaptive_pool=True, dropout_first=True)
