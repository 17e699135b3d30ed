"""SegNet: a VGG-16 encoder whose decoder upsamples with the encoder's saved max-pooling indices.

Why: Badrinarayanan, Kendall & Cipolla 2017, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation". Each encoder stage's 2x2 max pool remembers where its maxima
were; the matching decoder stage max-unpools to those positions (zeros elsewhere) and densifies the
sparse map with 3x3 convolutions + batch norm + ReLU. The decoder mirrors the 13 encoder convolutions;
the last convolution of each decoder stage changes the width to the next stage's, and the very last
one outputs class scores (as in the reference Caffe model). `width` multiplies VGG-16's channels.

Shapes: [N, H, W, C] -> [N, H, W, num_classes], H and W multiples of 32.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ModuleDef, max_pool_with_indices, max_unpool
from cnnjax.models import vgg
from cnnjax.models.fcn import scaled_vgg16_stages


class SegNet(nn.Module):
  """VGG-16(-BN) encoder, index-unpooling decoder; see the module docstring."""

  num_classes: int = 12
  width: float = 1.0
  batch_norm: bool = True
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm
  norm_act: ModuleDef | None = None  # the encoder's relu(norm(x)) as one layer (cnnjax.models.vgg.VGG)

  @nn.compact
  def __call__(self, x, train: bool = False):
    height, width = x.shape[1:3]
    if height % 32 or width % 32:
      raise ValueError(f"SegNet input {height}x{width} must have height and width divisible by 32 (five 2x2 "
                       "pools); resize or pad the images (config.dataset.image_size)")
    stages = scaled_vgg16_stages(self.width)
    features = vgg.VGG(stages=stages, batch_norm=self.batch_norm, dtype=self.dtype, conv=self.conv, norm=self.norm,
                       norm_act=self.norm_act, name="encoder").features(x, train)
    pooled = {}
    for i in range(1, 6):
      pooled[i] = max_pool_with_indices(features[f"conv{i}"], 2, 2)
    h = pooled[5][0]
    for i in range(5, 0, -1):
      values, indices = pooled[i]
      h = max_unpool(h, indices, features[f"conv{i}"].shape, non_overlapping=True)
      widths = list(stages[i - 1])
      widths[0] = stages[i - 2][-1] if i > 1 else self.num_classes  # conv{i}_1_D, applied last
      for j, channels in reversed(list(enumerate(widths, start=1))):
        last = i == 1 and j == 1
        h = self.conv(channels, (3, 3), padding="SAME", dtype=self.dtype, name=f"conv{i}_{j}_D")(h)
        if last:
          break
        if self.batch_norm:
          h = self.norm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}_{j}_D")(h)
        h = nn.relu(h)
    return h.astype(jnp.float32)


segnet = functools.partial(SegNet)
