"""1-D convolutional networks for signals, e.g. the MNIST-1D CNN of Greydanus 2020.

"Scaling down deep learning" (arXiv:2011.14439) uses three Conv1d layers of 25 channels
(kernels 5, 3, 3; stride 2; padding 1; ReLU) and a linear classifier on the flattened
features; on length-40 signals that is 5 x 25 = 125 features and 5,210 parameters.
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import ModuleDef


class Conv1DNet(nn.Module):
  """Strided 1-D convolutions with ReLU, flattened into a linear classifier.

  [N, L, C] (or [N, L], read as one channel) -> [N, num_classes].
  """

  num_classes: int = 10
  features: Sequence[int] = (25, 25, 25)
  kernel_sizes: Sequence[int] = (5, 3, 3)
  strides: Sequence[int] = (2, 2, 2)
  padding: int = 1
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    if not len(self.features) == len(self.kernel_sizes) == len(self.strides):
      raise ValueError(f"conv1d features {tuple(self.features)}, kernel_sizes {tuple(self.kernel_sizes)} and "
                       f"strides {tuple(self.strides)} must have one entry per layer")
    if x.ndim == 2:
      x = x[..., None]
    if x.ndim != 3:
      raise ValueError(f"conv1d expects signals [N, L, C] or [N, L], got shape {x.shape}")
    self.check_length(x.shape[1])
    x = x.astype(self.dtype)
    for i, (width, kernel, stride) in enumerate(zip(self.features, self.kernel_sizes, self.strides)):
      x = self.conv(width, (kernel,), strides=(stride,), padding=[(self.padding, self.padding)],
                    dtype=self.dtype, name=f"conv{i + 1}")(x)
      x = nn.relu(x)
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)

  def check_length(self, length: int) -> None:
    """Raises ValueError when a convolution would see fewer samples than its kernel spans (with padding)."""
    shortest = 1  # the shortest input length that leaves every layer at least one output, found backwards
    for kernel, stride in reversed(list(zip(self.kernel_sizes, self.strides))):
      shortest = max(1, (shortest - 1) * stride + kernel - 2 * self.padding)
    if length < shortest:
      raise ValueError(f"conv1d input of length {length} is too short for kernels {tuple(self.kernel_sizes)} at "
                       f"strides {tuple(self.strides)} with padding {self.padding}; use signals of at least "
                       f"{shortest} samples")


mnist1d_cnn = functools.partial(Conv1DNet, features=(25, 25, 25), kernel_sizes=(5, 3, 3), strides=(2, 2, 2))
