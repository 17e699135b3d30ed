"""`conv_general_dilated` with lax's signature that runs 2-D convolutions on a single CPU through oneDNN.

Why: on the CPU, oneDNN computes convolution gradients several times faster than XLA
(cnnjax/kernels/onednn.py). cnnjax.fast.blocks passes this function to flax's
`nn.Conv(conv_general_dilated=...)` when it chooses the fast paths; models never name it.
It uses oneDNN for float32, ungrouped, undilated NHWC/HWIO convolutions when the default backend is
the CPU and the library is built, on any number of devices and processes (with several, each device
convolves its shard of the batch: cnnjax.kernels.batch_sharded); everything else (GPUs, bfloat16,
groups, dilation, 1-D and 3-D) goes to lax unchanged.
Reverse-mode gradients (jax.grad, jax.vjp) are defined; forward mode (jax.jvp, jax.jacfwd) and
second derivatives are not: use the plain blocks (config.fast_paths="off", or models as built by
cnnjax.models) or CNNJAX_ONEDNN=0 for those.
"""

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.kernels import onednn

NHWC = lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))  # NHWC input, HWIO kernel, NHWC output


def all_ones(values) -> bool:
  """True for None (lax's default) or a stride / dilation of all ones."""
  return values is None or all(v == 1 for v in values)


def onednn_status() -> str:
  """"on" when this process routes eligible convolutions to oneDNN, else "off: <why>"."""
  if jax.default_backend() != "cpu":
    return f"off: backend {jax.default_backend()}"
  reason = onednn.unavailable_reason()
  return f"off: {reason}" if reason else "on"


def uses_onednn(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                feature_group_count=1, batch_group_count=1, preferred_element_type=None) -> bool:
  """Whether `conv_general_dilated` with these arguments runs through oneDNN."""
  if (lhs.ndim != 4 or rhs.ndim != 4 or lhs.dtype != jnp.float32 or rhs.dtype != jnp.float32
      or feature_group_count != 1 or batch_group_count != 1 or not all_ones(lhs_dilation) or not all_ones(rhs_dilation)
      or preferred_element_type not in (None, jnp.float32)
      or lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != NHWC):
    return False
  if not isinstance(padding, str) and any(lo < 0 or hi < 0 for lo, hi in padding):
    return False
  return onednn_status() == "on"


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None) -> jax.Array:
  """lax.conv_general_dilated, through oneDNN where `uses_onednn` says so (same values, faster gradients)."""
  if not uses_onednn(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                     feature_group_count, batch_group_count, preferred_element_type):
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                                    feature_group_count, batch_group_count, precision, preferred_element_type)
  strides = tuple(window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
  padding = tuple(tuple(int(p) for p in pair) for pair in padding)
  return onednn.conv2d(lhs, rhs, strides, padding)
