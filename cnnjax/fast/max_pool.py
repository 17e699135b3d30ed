"""`max_pool` with cnnjax.layers.max_pool's signature and values that pools tiling windows through a CPU kernel.

Why: on the CPU, XLA's max pooling and its gradient are several single-threaded passes over the
input; cnnjax.kernels.max_pool makes one pass each way on every core (LeNet-5 and VGG pool 2x2 tiles).
cnnjax.fast.blocks puts this function into a model's `max_pool` field when it chooses the fast paths;
models never name it. float32 windows that tile the input (stride = window, no padding) on the CPU go
to the kernel; everything else goes to cnnjax.layers.max_pool unchanged.
"""

import jax
import jax.numpy as jnp

from cnnjax.kernels import max_pool as max_pool_kernels
from cnnjax.layers import pooling
from cnnjax.layers.conv import IntOrPair


def kernels_status() -> str:
  """"on" when `max_pool` pools tiling float32 windows through cnnjax.kernels.max_pool here, else "off: <why>"."""
  reason = max_pool_kernels.unavailable_reason()
  return f"off: {reason}" if reason else "on"


def max_pool(x: jax.Array, window: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
             ceil_mode: bool = False) -> jax.Array:
  """cnnjax.layers.max_pool (torch's max_pool2d, NHWC), through the CPU kernel where it applies."""
  tiles = pooling.tiling_window(x, window, stride, padding, ceil_mode) if x.dtype == jnp.float32 else None
  if tiles is None or kernels_status() != "on":
    return pooling.max_pool(x, window, stride, padding, ceil_mode)
  cropped, window = tiles
  return max_pool_kernels.max_pool_tiles(cropped, window)
