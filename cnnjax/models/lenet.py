"""LeNet-1 and LeNet-5 (LeCun et al. 1989, 1998) with modern ReLU + max pooling defaults."""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import ModuleDef, activation, avg_pool, max_pool

POOLS = {"max": max_pool, "avg": avg_pool}


class LeNet(nn.Module):
  """Convolution/pooling stages followed by fully connected layers.

  [N, H, W, C] -> [N, num_classes]. With `conv1_padding=None` the first convolution pads
  a 28x28 input by 2 so that it sees the 32x32 field of the original LeNet-5. Blocks are fields with
  plain defaults: `conv` (nn.Conv) and `max_pool` (cnnjax.layers.max_pool, used when pool="max").
  """

  conv_features: Sequence[int] = (6, 16)
  hidden_sizes: Sequence[int] = (120, 84)
  num_classes: int = 10
  kernel_size: int = 5
  conv1_padding: int | None = None
  activation: str = "relu"
  pool: str = "max"
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  max_pool: Callable = max_pool

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    act = activation(self.activation, "lenet")
    if self.pool not in POOLS:
      raise ValueError(f"lenet pool {self.pool!r} is unknown; use one of {sorted(POOLS)}")
    pool = self.max_pool if self.pool == "max" else POOLS[self.pool]
    x = x.astype(self.dtype)
    for i, features in enumerate(self.conv_features):
      padding = 0
      if i == 0:
        padding = self.conv1_padding if self.conv1_padding is not None else max(0, (32 - x.shape[1]) // 2)
      x = self.conv(features, (self.kernel_size, self.kernel_size), padding=padding, dtype=self.dtype,
                    name=f"conv{i + 1}")(x)
      x = pool(act(x), 2, 2)
    x = x.reshape((x.shape[0], -1))
    for i, width in enumerate(self.hidden_sizes):
      x = act(nn.Dense(width, dtype=self.dtype, name=f"fc{i + 1}")(x))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)


lenet5 = functools.partial(LeNet, conv_features=(6, 16), hidden_sizes=(120, 84))
lenet1 = functools.partial(LeNet, conv_features=(4, 12), hidden_sizes=(), conv1_padding=0)
