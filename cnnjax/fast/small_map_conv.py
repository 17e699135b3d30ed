"""Convolutions over tiny feature maps computed as shifted slices and one matrix product.

Why: XLA's CPU convolution is an order of magnitude slower than a matmul of the same work when the
output has only a few positions (VGG's last stage on a 32x32 input is 2x2; benchmarks/conv_kernels.py
and benchmarks/cpu_step.py measure it). Padding the input, stacking the kh*kw shifted views along
channels and multiplying by the [kh*kw*C_in, C_out] kernel is the same sum in another order; its
gradients are slices, pads and matmuls.

`conv_general_dilated` has lax.conv_general_dilated's signature and is passed to flax's
`nn.Conv(conv_general_dilated=...)` (cnnjax.fast.blocks does so for the models it lists); it falls
back to onednn_conv (oneDNN on one CPU, else lax) for anything but a stride-1, undilated, ungrouped
NHWC/HWIO convolution with at most `MAX_POSITIONS` output positions per image.
[N, H, W, C_in] x [kh, kw, C_in, C_out] -> [N, H', W', C_out].
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.fast import onednn_conv

MAX_POSITIONS = 4  # output positions per image up to which slices + matmul beat XLA's CPU conv (2x2 yes, 4x4 no)


def _explicit_pads(padding, lhs_shape, rhs_shape) -> Sequence[tuple[int, int]] | None:
  if isinstance(padding, str):
    return lax.padtype_to_pads(lhs_shape[1:3], rhs_shape[:2], (1, 1), padding)
  pads = [tuple(p) for p in padding]
  return pads if all(lo >= 0 and hi >= 0 for lo, hi in pads) else None


def takes(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
          feature_group_count=1, batch_group_count=1) -> bool:
  """Whether `conv_general_dilated` computes these arguments as slices + matmul (else it falls back)."""
  if (lhs.ndim != 4 or feature_group_count != 1 or batch_group_count != 1 or not onednn_conv.all_ones(window_strides)
      or not onednn_conv.all_ones(lhs_dilation) or not onednn_conv.all_ones(rhs_dilation)
      or lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != onednn_conv.NHWC):
    return False
  pads = _explicit_pads(padding, lhs.shape, rhs.shape)
  if pads is None:
    return False
  out_h, out_w = _output_size(lhs.shape, rhs.shape, pads)
  return 1 <= out_h and 1 <= out_w and out_h * out_w <= MAX_POSITIONS


def _output_size(lhs_shape, rhs_shape, pads) -> tuple[int, int]:
  return lhs_shape[1] + sum(pads[0]) - rhs_shape[0] + 1, lhs_shape[2] + sum(pads[1]) - rhs_shape[1] + 1


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None) -> jax.Array:
  """lax.conv_general_dilated; as slices + matmul when the output is at most MAX_POSITIONS per image."""
  if not takes(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
               feature_group_count, batch_group_count):
    return onednn_conv.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                            dimension_numbers, feature_group_count, batch_group_count, precision,
                                            preferred_element_type)
  pads = _explicit_pads(padding, lhs.shape, rhs.shape)
  kh, kw, c_in, c_out = rhs.shape
  out_h, out_w = _output_size(lhs.shape, rhs.shape, pads)
  padded = jnp.pad(lhs, ((0, 0), pads[0], pads[1], (0, 0)))
  columns = jnp.concatenate([padded[:, i:i + out_h, j:j + out_w, :] for i in range(kh) for j in range(kw)], axis=-1)
  return jnp.matmul(columns, rhs.reshape(kh * kw * c_in, c_out), precision=precision,
                    preferred_element_type=preferred_element_type)
