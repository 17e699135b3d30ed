"""flax's nn.Conv whose bias, where the convolution runs through oneDNN, is added inside the oneDNN call.

Why: nn.Conv adds its bias after the convolution, a pass over the output, and the bias gradient is a
reduction over the whole output gradient that XLA runs on one thread; oneDNN adds the bias as it
writes the output and computes its gradient in the filter-gradient call, which reads that output
gradient anyway (LeNet-5 and VGG have biased convolutions; benchmarks/step_floor.py measures the rest
of their steps). `Conv` has nn.Conv's fields, variables, initialisers and values; every configuration
that does not go to oneDNN (no bias, groups, dilation, masks, circular padding, other dtypes,
small-map convolutions, other backends) is nn.Conv's own computation. cnnjax.fast.blocks gives it to
models' `conv` field with the conv_general_dilated it chooses.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.linear import canonicalize_padding
from jax import lax

from cnnjax.fast import onednn_conv, small_map_conv
from cnnjax.kernels import onednn


class Conv(nn.Conv):
  """nn.Conv; with a bias, through oneDNN, the bias is added (and differentiated) inside the oneDNN call."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    geometry = self._onednn_geometry(inputs)
    if geometry is None:
      return super().__call__(inputs)
    strides, padding = geometry
    kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, inputs.shape[-1], self.features),
                        self.param_dtype)
    bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
    inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    return onednn.conv2d(inputs, kernel, strides, padding, bias)

  def _onednn_geometry(self, inputs: jax.Array):
    """(strides, explicit padding) when this biased 2-D convolution goes to oneDNN, else None."""
    if (not self.use_bias or self.mask is not None or not self.shared_weights or isinstance(self.kernel_size, int)
        or len(self.kernel_size) != 2 or inputs.ndim != 4 or self.feature_group_count != 1
        or self.conv_general_dilated_cls is not None
        or self.conv_general_dilated not in (onednn_conv.conv_general_dilated, small_map_conv.conv_general_dilated)
        or jnp.dtype(self.param_dtype) != jnp.float32
        or jnp.dtype(self.dtype or jnp.result_type(inputs, self.param_dtype)) != jnp.float32):
      return None
    strides = _pair(self.strides)
    if _pair(self.input_dilation) != (1, 1) or _pair(self.kernel_dilation) != (1, 1) or strides is None:
      return None
    padding = canonicalize_padding(self.padding, 2)
    if padding in ("CIRCULAR", "REFLECT", "CAUSAL"):
      return None
    lhs = jax.ShapeDtypeStruct(inputs.shape, jnp.float32)
    rhs = jax.ShapeDtypeStruct((*self.kernel_size, inputs.shape[-1], self.features), jnp.float32)
    arguments = (lhs, rhs, strides, padding, None, None, onednn_conv.NHWC)
    if not onednn_conv.uses_onednn(*arguments):
      return None
    if self.conv_general_dilated is small_map_conv.conv_general_dilated and small_map_conv.takes(*arguments):
      return None
    if isinstance(padding, str):
      padding = lax.padtype_to_pads(inputs.shape[1:3], self.kernel_size, strides, padding)
    return strides, tuple(tuple(int(p) for p in pair) for pair in padding)


def _pair(value) -> tuple[int, int] | None:
  """nn.Conv's broadcast of an int (or None: 1) over the two spatial axes; None if not two values."""
  if value is None:
    return (1, 1)
  if isinstance(value, int):
    return (value, value)
  value = tuple(value)
  return value if len(value) == 2 else None
