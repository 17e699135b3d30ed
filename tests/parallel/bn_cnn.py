"""A two-layer CNN with batch norm, small enough that the parallel tests compile in seconds."""

import flax.linen as nn
import jax.numpy as jnp


class SmallBNCNN(nn.Module):
  """conv-BN-ReLU x2 -> global average pool -> dense. [N, H, W, C] -> [N, num_classes]."""

  num_classes: int = 10
  width: int = 8
  dtype: object = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    for i, (features, stride) in enumerate([(self.width, 1), (2 * self.width, 2)]):
      x = nn.Conv(features, (3, 3), strides=stride, use_bias=False, dtype=self.dtype, name=f"conv{i + 1}")(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype, name=f"bn{i + 1}")(x)
      x = nn.relu(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(jnp.mean(x, axis=(1, 2)))
