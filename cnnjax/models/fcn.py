"""Fully convolutional networks FCN-32s, FCN-16s and FCN-8s on a VGG-16 backbone.

Why: Long, Shelhamer & Darrell 2015, "Fully Convolutional Networks for Semantic Segmentation".
VGG-16's classifier is convolutionalised (fc6: 7x7 convolution with 4096 maps, fc7: 1x1 with 4096,
a 1x1 score layer per class); class scores at stride 32 are upsampled by transpose convolutions
initialised to bilinear interpolation. FCN-16s adds scores from pool4 (stride 16) after a learned 2x
upsampling, FCN-8s also from pool3 (stride 8). As in the paper the skip score layers start at zero,
the 2x upsamplings are learned and the final upsampling (32x, 16x or 8x) is fixed bilinear: it has
no parameters (`learn_final_upsampling=True` makes it a learned transpose convolution instead).

Conventions: all convolutions are 'SAME' (no 100-pixel input padding and cropping), so an input whose
height and width are multiples of 32 gives scores of exactly the input's size. `width` multiplies
the VGG channels (1.0: 64..512), `fc_features` is fc6/fc7's width (4096 in the paper) and `fc6_kernel`
fc6's window on pool5 (7x7 in the paper: VGG's classifier pools to 7x7; (1, 1) for a backbone
classifier whose pool5 was 1x1, cnnjax.weights.convolutionalize.classifier_to_fcn).
Parameter count of fcn32s with 21 classes: 134,346,581 (fixed bilinear upsampling not counted).

Shapes: [N, H, W, C] -> [N, H, W, num_classes], H and W multiples of 32.
"""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ConvTranspose, ModuleDef, bilinear_init, bilinear_kernel
from cnnjax.layers.transpose_conv import subpixel_conv_transpose
from cnnjax.models import vgg


def bilinear_upsample(x: jax.Array, factor: int) -> jax.Array:
  """FCN's fixed upsampling: a per-channel transpose convolution with the bilinear kernel of size 2*factor.

  Stride `factor`, padding factor/2 (the transpose of a convolution with these settings), no parameters.
  [N, H, W, C] -> [N, factor * H, factor * W, C]; `factor` must be even.
  """
  if factor % 2:
    raise ValueError(f"bilinear_upsample factor {factor} must be even (kernel 2*factor, padding factor/2)")
  channels = x.shape[-1]
  size = 2 * factor
  kernel = jnp.broadcast_to(bilinear_kernel(size, 1, x.dtype), (size, size, 1, channels))
  pad = (factor // 2, factor // 2)
  return subpixel_conv_transpose(x, kernel, (factor, factor), pad, (0, 0), groups=channels)


def scaled_vgg16_stages(width: float) -> tuple[tuple[int, ...], ...]:
  """VGG-16's channels per stage times `width` (at least 1 channel each)."""
  return tuple(tuple(max(1, int(round(c * width))) for c in stage) for stage in vgg.STAGES[16])


class FCN(nn.Module):
  """FCN with skips from `skips` (() for 32s, ("pool4",) for 16s, ("pool4", "pool3") for 8s)."""

  num_classes: int = 21
  skips: Sequence[str] = ()
  width: float = 1.0
  fc_features: int = 4096
  fc6_kernel: tuple[int, int] = (7, 7)
  batch_norm: bool = False
  dropout_rate: float = 0.5
  learn_final_upsampling: bool = False
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm
  norm_act: ModuleDef | None = None  # the backbone's relu(norm(x)) as one layer (cnnjax.models.vgg.VGG)

  @nn.compact
  def __call__(self, x, train: bool = False):
    height, width = x.shape[1:3]
    if height % 32 or width % 32:
      raise ValueError(f"FCN input {height}x{width} must have height and width divisible by 32 (the stride of "
                       "pool5); resize or pad the images (config.dataset.image_size)")
    backbone = vgg.VGG(stages=scaled_vgg16_stages(self.width), batch_norm=self.batch_norm, dtype=self.dtype,
                       conv=self.conv, norm=self.norm, norm_act=self.norm_act, name="backbone")
    features = backbone.features(x, train)
    conv = functools.partial(self.conv, dtype=self.dtype, padding="SAME")
    h = nn.relu(conv(self.fc_features, tuple(self.fc6_kernel), name="fc6")(features["pool5"]))
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    h = nn.relu(conv(self.fc_features, (1, 1), name="fc7")(h))
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    h = conv(self.num_classes, (1, 1), name="score_fr")(h)
    for skip in self.skips:
      h = ConvTranspose(self.num_classes, 4, stride=2, padding=1, use_bias=False, kernel_init=bilinear_init,
                        dtype=self.dtype, name=f"upscore_{skip}")(h)
      h = h + conv(self.num_classes, (1, 1), kernel_init=nn.initializers.zeros, name=f"score_{skip}")(features[skip])
    factor = height // h.shape[1]
    if self.learn_final_upsampling:
      h = ConvTranspose(self.num_classes, 2 * factor, stride=factor, padding=factor // 2, use_bias=False,
                        kernel_init=bilinear_init, dtype=self.dtype, name="upscore_final")(h)
    else:
      h = bilinear_upsample(h, factor)
    return h.astype(jnp.float32)


fcn32s = functools.partial(FCN, skips=())
fcn16s = functools.partial(FCN, skips=("pool4",))
fcn8s = functools.partial(FCN, skips=("pool4", "pool3"))
