"""Convolution arithmetic and a torch-style convolution factory over `flax.linen.Conv`.

The lecture's output-size rule (N - F + 2P) / S + 1 and "same" padding (F - 1) / 2, and a `Conv`
factory that takes integer stride / padding / dilation / groups like `torch.nn.Conv2d` so that
models read like the papers they follow. Layout is NHWC; kernels are HWIO (flax's layout).
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn

IntOrPair = int | Sequence[int]


def pair(value: IntOrPair, name: str) -> tuple[int, int]:
  """(v, v) for an int, the pair itself otherwise; `name` is the argument named in the error."""
  if isinstance(value, int):
    return (value, value)
  value = tuple(value)
  if len(value) != 2 or not all(isinstance(v, int) for v in value):
    raise ValueError(f"{name}={value!r} must be an int or a pair of ints")
  return value


def conv_output_size(n: int, f: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     strict: bool = True) -> int:
  """Spatial output size of a convolution or pooling window: (N - F' + 2P) / S + 1.

  The lecture's rule, with F' = dilation * (F - 1) + 1 the dilated filter extent. With `strict` it
  raises when the filter does not tile the input (a 7x7 input, 3x3 filter, stride 3 gives 2.33),
  naming the fix; with strict=False it floors, as torch and flax do (ResNet's 224 -> 112 stem).
  """
  if min(n, f, stride, dilation) < 1 or padding < 0:
    raise ValueError(f"conv_output_size needs n, f, stride, dilation >= 1 and padding >= 0; "
                     f"got n={n}, f={f}, stride={stride}, padding={padding}, dilation={dilation}")
  extent = dilation * (f - 1) + 1
  span = n - extent + 2 * padding
  if span < 0:
    raise ValueError(f"filter {f}x{f} (extent {extent}) with padding {padding} does not fit a {n}x{n} input; "
                     f"use padding >= {-(-(extent - n) // 2)} or a smaller filter")
  if strict and span % stride:
    fits = [p for p in range(padding, padding + stride) if (n - extent + 2 * p) % stride == 0]
    hint = f"padding={fits[0]}" if fits else "a different padding"
    raise ValueError(
        f"(N - F + 2P) / S + 1 = ({n} - {extent} + 2*{padding}) / {stride} + 1 = "
        f"{span / stride + 1:.2f} is not an integer: the {f}x{f} filter at stride {stride} does not tile "
        f"a {n}x{n} input; use stride 1, {hint}, an input size with (N - F + 2P) divisible by the stride, "
        f"or strict=False to floor as torch does")
  return span // stride + 1


def same_padding(f: int, dilation: int = 1) -> int:
  """Zero padding (F - 1) / 2 that keeps the spatial size at stride 1, for odd F.

  The lecture's "same" convolution; for dilated filters the extent dilation * (F - 1) + 1 is used.
  """
  extent = dilation * (f - 1) + 1
  if extent % 2 == 0:
    raise ValueError(f"same_padding needs an odd filter extent; filter {f} with dilation {dilation} has "
                     f"extent {extent}: use an odd filter size or pad asymmetrically with padding=((lo, hi), ...)")
  return (extent - 1) // 2


def Conv(features: int,  # pylint: disable=invalid-name
         kernel_size: IntOrPair,
         stride: IntOrPair = 1,
         padding: IntOrPair | str = 0,
         dilation: IntOrPair = 1,
         groups: int = 1,
         use_bias: bool = True,
         dtype: Any = None,
         **kwargs) -> nn.Conv:
  """A `flax.linen.Conv` configured with torch.nn.Conv2d-style arguments.

  Why: papers and torchvision state stride / zero padding / dilation / groups as integers; groups is
  ResNeXt's cardinality (`feature_group_count`). Padding may also be "SAME"/"VALID" or explicit pairs.
  [N, H, W, C_in] -> [N, H', W', features], H' = conv_output_size(H, kh, stride, padding, dilation)
  (flax floors like torch when the filter does not tile). Kernel: [kh, kw, C_in / groups, features].
  Extra keyword arguments (name, kernel_init, param_dtype, conv_general_dilated, ...) go to nn.Conv.
  """
  if groups < 1 or features % groups:
    raise ValueError(f"Conv groups={groups} must be >= 1 and divide features={features}")
  if isinstance(padding, str):
    pad = padding.upper()  # torch's "same" / "valid"
  elif isinstance(padding, int):
    pad = ((padding, padding), (padding, padding))
  else:
    pad = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
  return nn.Conv(features, pair(kernel_size, "kernel_size"), strides=pair(stride, "stride"),
                 padding=pad, kernel_dilation=pair(dilation, "dilation"), feature_group_count=groups,
                 use_bias=use_bias, dtype=dtype, **kwargs)
