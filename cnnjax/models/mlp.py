"""Multi-layer perceptron with configurable hidden sizes and activation."""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import activation


class MLP(nn.Module):
  """Fully connected network: flatten, hidden Dense+activation layers, output Dense.

  [N, ...] -> [N, num_classes]. `activation` is "sigmoid" as in the lecture, or "relu".
  """

  num_classes: int = 10
  hidden_sizes: Sequence[int] = (256, 128)
  activation: str = "relu"
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    act = activation(self.activation, "mlp")
    x = x.reshape((x.shape[0], -1)).astype(self.dtype)
    for i, width in enumerate(self.hidden_sizes):
      x = act(nn.Dense(width, dtype=self.dtype, name=f"fc{i + 1}")(x))
      if self.dropout_rate:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)
