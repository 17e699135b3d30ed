"""Transpose ("fractionally strided") convolution with torch.nn.ConvTranspose2d semantics, and FCN's bilinear init.

The layer computes X^T a, where X is the matrix of the convolution with the same kernel, stride and
padding (the lecture's 1-D examples); FCN (Long et al. 2015) initialises it to bilinear upsampling.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnjax.layers.conv import IntOrPair, pair as _pair


def conv_transpose_output_size(n: int, f: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                               dilation: int = 1) -> int:
  """(N - 1) S - 2P + D (F - 1) + output_padding + 1: the input size of the matching convolution."""
  out = (n - 1) * stride - 2 * padding + dilation * (f - 1) + output_padding + 1
  if out < 1:
    raise ValueError(f"transpose convolution of size {n} with filter {f}, stride {stride}, padding {padding} has "
                     f"output size {out}; reduce the padding")
  return out


def bilinear_kernel(size: int, channels: int, dtype: Any = jnp.float32) -> jax.Array:
  """FCN's bilinear upsampling filter, one per channel: [size, size, channels, channels], diagonal in channels.

  With stride s, size 2s and padding s/2 a `ConvTranspose` with this kernel upsamples by s bilinearly
  (half-pixel centres, as jax.image.resize away from the border).
  """
  factor = (size + 1) // 2
  centre = factor - 1 if size % 2 == 1 else factor - 0.5
  grid = np.arange(size)
  filt1d = 1 - np.abs(grid - centre) / factor
  filt = np.outer(filt1d, filt1d)
  kernel = np.zeros((size, size, channels, channels), np.float64)
  kernel[:, :, np.arange(channels), np.arange(channels)] = filt[:, :, None]
  return jnp.asarray(kernel, dtype)


def bilinear_init(key, shape, dtype=jnp.float32):
  """Flax initializer for a [k, k, C_in / groups, C_out] kernel: bilinear per channel (FCN).

  Works for C_in == C_out with groups 1 (diagonal kernel) and for depthwise kernels (C_in / groups == 1).
  """
  del key
  kh, kw, cin, cout = shape
  if kh != kw:
    raise ValueError(f"bilinear_init needs a square kernel; got {kh}x{kw}")
  if cin == 1:
    return jnp.broadcast_to(bilinear_kernel(kh, 1, dtype), shape)
  if cin != cout:
    raise ValueError(f"bilinear_init needs as many output as input channels (or groups == channels); got {shape}")
  return bilinear_kernel(kh, cin, dtype)


def use_subpixel(kernel_size, stride, dilation, groups) -> bool:
  """Whether the sub-pixel lowering is the faster one on XLA CPU.

  It is for grouped/depthwise kernels (FCN's fixed bilinear 8x) and for kernels no larger than the
  stride (U-Net's 2x2/2); XLA's own dilated lowering wins for dense kernels that overlap (FCN's
  learned 4x4/2 and 16x16/8). benchmarks/transpose_conv.py times both lowerings on these cases;
  benchmarks/results/transpose_conv.json holds its last run.
  """
  if dilation != (1, 1) or stride == (1, 1):
    return False
  return groups > 1 or all(k <= s for k, s in zip(kernel_size, stride))


def dilated_conv_transpose(x, kernel, s, p, op, d=(1, 1), groups=1):
  """The textbook lowering: a stride-1 convolution of the zero-dilated input with the flipped kernel.

  Does s^2 times the necessary work (most products are with inserted zeros); any dilation, groups.
  """
  lo = [d[i] * (kernel.shape[i] - 1) - p[i] for i in range(2)]
  pad = [(max(lo[i], 0), max(lo[i], 0) + op[i]) for i in range(2)]
  y = lax.conv_general_dilated(
      x, kernel[::-1, ::-1], window_strides=(1, 1), padding=pad, lhs_dilation=s, rhs_dilation=d,
      dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)
  crop = [max(-lo[i], 0) for i in range(2)]
  if any(crop):
    y = y[:, crop[0]:y.shape[1] - crop[0], crop[1]:y.shape[2] - crop[1], :]
  return y


def subpixel_conv_transpose(x, kernel, s, p, op, groups=1):
  """The same transpose convolution as one stride-1 convolution with s*s*C_out maps, then depth-to-space.

  Why: output pixel s*q + r only ever meets kernel taps r, r + s, r + 2s, ...; grouping the taps by
  phase r turns the transpose convolution into a small dense convolution (kernel ceil(K/s)) whose
  s*s outputs per pixel are interleaved, with no products against inserted zeros (FCN's 16x16
  stride-8 upsampling: 64x fewer products than dilated_conv_transpose). Dilation 1, any groups.
  """
  kh, kw, cin_g, cout = kernel.shape
  g = groups
  taps = [-(-kh // s[0]), -(-kw // s[1])]  # ceil(K / s) taps per phase
  kernel = jnp.pad(kernel, ((0, taps[0] * s[0] - kh), (0, taps[1] * s[1] - kw), (0, 0), (0, 0)))
  # [j_y s_y + r_y, j_x s_x + r_x, C_in/g, (g, C_out/g)] -> [j_y, j_x, C_in/g, (g, r_y, r_x, C_out/g)],
  # j flipped: output channels stay grouped as lax's feature_group_count expects.
  kernel = kernel.reshape(taps[0], s[0], taps[1], s[1], cin_g, g, cout // g)[::-1, :, ::-1]
  kernel = kernel.transpose(0, 2, 4, 5, 1, 3, 6).reshape(taps[0], taps[1], cin_g, g * s[0] * s[1] * (cout // g))
  z = lax.conv_general_dilated(x, kernel, window_strides=(1, 1),
                               padding=[(taps[0] - 1, taps[0] - 1), (taps[1] - 1, taps[1] - 1)],
                               dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=g)
  n, hq, wq, _ = z.shape
  z = z.reshape(n, hq, wq, g, s[0], s[1], cout // g).transpose(0, 1, 4, 2, 5, 3, 6)
  z = z.reshape(n, hq * s[0], wq * s[1], cout)
  # z is the uncropped transpose convolution (zero beyond (H - 1) s + K); torch crops P each side.
  out = [(x.shape[1 + i] - 1) * s[i] - 2 * p[i] + (kh, kw)[i] + op[i] for i in range(2)]
  extra = [max(p[i] + out[i] - z.shape[1 + i], 0) for i in range(2)]
  if any(extra):
    z = jnp.pad(z, ((0, 0), (0, extra[0]), (0, extra[1]), (0, 0)))
  return z[:, p[0]:p[0] + out[0], p[1]:p[1] + out[1], :]


class ConvTranspose(nn.Module):
  """Transpose convolution matching torch.nn.ConvTranspose2d (stride, padding, output_padding, dilation, groups).

  Why: decoders (FCN, U-Net, SegNet variants) learn upsampling as the transpose of a strided convolution.
  [N, H, W, C_in] -> [N, H', W', features], H' = (H - 1) S - 2P + D (F - 1) + output_padding + 1.
  Kernel layout: [kh, kw, C_in / groups, features], unflipped, i.e. torch's weight
  [C_in, features / groups, kh, kw] reshaped to [groups, C_in/g, features/g, kh, kw] and permuted
  (3, 4, 1, 0, 2) (for groups=1 simply weight.permute(2, 3, 0, 1)).
  """

  features: int
  kernel_size: IntOrPair
  stride: IntOrPair = 1
  padding: IntOrPair = 0
  output_padding: IntOrPair = 0
  dilation: IntOrPair = 1
  groups: int = 1
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, s = _pair(self.kernel_size, "kernel_size"), _pair(self.stride, "stride")
    p, op = _pair(self.padding, "padding"), _pair(self.output_padding, "output_padding")
    d = _pair(self.dilation, "dilation")
    cin = x.shape[-1]
    if cin % self.groups or self.features % self.groups:
      raise ValueError(f"ConvTranspose groups={self.groups} must divide input channels {cin} and features "
                       f"{self.features}")
    for i in range(2):
      if not 0 <= op[i] < max(s[i], d[i]):
        raise ValueError(f"ConvTranspose output_padding={op} must be smaller than the stride {s} or dilation {d}")
    kernel = self.param("kernel", self.kernel_init, (*k, cin // self.groups, self.features), self.param_dtype)
    dtype = self.dtype or jnp.result_type(x, kernel)
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    if use_subpixel(k, s, d, self.groups):
      y = subpixel_conv_transpose(x, kernel, s, p, op, self.groups)
    else:
      y = dilated_conv_transpose(x, kernel, s, p, op, d, self.groups)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype).astype(dtype)
    return y
