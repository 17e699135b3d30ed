"""Squeeze-and-excitation: channel attention from globally pooled features (Hu et al. 2018, SENet).

Used by SE-ResNet / SE-ResNeXt after the last convolution of each residual branch.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def se_hidden_features(channels: int, reduction: int) -> int:
  """Hidden width max(1, channels // reduction): the paper's C / r, rounded down as torchvision/timm SE-ResNets do."""
  if reduction < 1:
    raise ValueError(f"SqueezeExcite reduction={reduction} must be >= 1")
  return max(1, channels // reduction)


class SqueezeExcite(nn.Module):
  """x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2): global average pool -> FC C/r -> ReLU -> FC C -> gate.

  Hu et al. 2018. Hidden width `se_hidden_features(C, reduction)` = max(1, C // reduction) unless
  `hidden_features` is given. Parameters: 2 C h + h + C (fc1, fc2 with biases).
  [N, H, W, C] -> [N, H, W, C].
  """

  reduction: int = 16
  hidden_features: int | None = None
  act: Callable[[jax.Array], jax.Array] = nn.relu
  gate: Callable[[jax.Array], jax.Array] = nn.sigmoid
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    hidden = self.hidden_features or se_hidden_features(channels, self.reduction)
    s = jnp.mean(x, axis=(1, 2), dtype=jnp.promote_types(x.dtype, jnp.float32)).astype(x.dtype)
    s = self.act(nn.Dense(hidden, dtype=self.dtype, name="fc1")(s))
    s = self.gate(nn.Dense(channels, dtype=self.dtype, name="fc2")(s))
    return x * s[:, None, None, :].astype(x.dtype)
