"""CenterNet (Zhou et al., "Objects as Points", 2019): a single-stage, anchor-free dense detector.

Why: the modern end of the lecture's road from regions to objects. Every object is the peak of a
per-class heat map at its box centre; two small heads regress, at that peak, the box size and the
sub-cell offset of the centre. No anchors, no proposals and no NMS (a 3x3 max-pool keeps peaks).
The backbone is any zoo network that returns named feature maps (`features(x, train)`); the heads
read the one named `feature`, at the backbone's stride there (a CIFAR ResNet's layer3: 4).
Outputs (float32): heatmap logits [N, h, w, K], size [N, h, w, 2] (box width, height in feature
cells) and offset [N, h, w, 2] (centre minus its cell's corner, in cells).
"""

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.models import resnet

# The heat map's bias starts at -log((1 - p) / p) with p = 0.1, so every location begins as
# "background, probably" and the focal loss is not swamped at the first steps (CenterNet, RetinaNet).
HEATMAP_PRIOR = 0.1


class CenterNetHead(nn.Module):
  """3x3 conv + ReLU + 1x1 conv to `outputs` maps, as the paper's heads on every backbone; the last conv starts
  small (normal, std 0.01, RetinaNet's choice) so the outputs start at their bias."""

  outputs: int
  width: int = 64
  bias_init: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(self.width, (3, 3), dtype=self.dtype, name="conv")(x))
    out = nn.Conv(self.outputs, (1, 1), dtype=self.dtype, kernel_init=nn.initializers.normal(0.01),
                  bias_init=nn.initializers.constant(self.bias_init), name="out")(x)
    return out.astype(jnp.float32)


class CenterNet(nn.Module):
  """Heat map, size and offset heads on `backbone`'s feature map `feature` (see the module docstring)."""

  backbone: nn.Module
  num_classes: int
  feature: str = "layer3"
  head_width: int = 64
  stride: int = 4  # input pixels per feature cell at `feature`; checked against the input at call time
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    features = self.backbone.features(x, train)
    if self.feature not in features:
      raise ValueError(f"CenterNet feature={self.feature!r} is not one of the backbone's {sorted(features)}")
    f = features[self.feature]
    if x.shape[1] != f.shape[1] * self.stride or x.shape[2] != f.shape[2] * self.stride:
      raise ValueError(f"CenterNet stride={self.stride} but {x.shape[1:3]} input gave {f.shape[1:3]} feature cells; "
                       "set stride to the backbone's or use an input size that is a multiple of it")
    prior = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)
    return {
        "heatmap": CenterNetHead(self.num_classes, self.head_width, prior, self.dtype, name="heatmap")(f),
        "size": CenterNetHead(2, self.head_width, dtype=self.dtype, name="size")(f),
        "offset": CenterNetHead(2, self.head_width, dtype=self.dtype, name="offset")(f),
    }


def centernet_resnet20(num_classes: int = 10, dtype: Any = jnp.float32, **kwargs) -> CenterNet:
  """CenterNet on CIFAR ResNet-20's layer3 (64 maps at stride 4: 16x16 cells on the 64x64 scenes)."""
  return CenterNet(backbone=resnet.cifar_resnet20(num_classes=1, dtype=dtype), num_classes=num_classes, dtype=dtype,
                   **kwargs)


def centernet_resnet20_s8(num_classes: int = 10, dtype: Any = jnp.float32, **kwargs) -> CenterNet:
  """CenterNet on ResNet-20 with a stride-2 stem: layer3 at stride 8 (8x8 cells on 64x64), a quarter of the
  compute of centernet_resnet20 for objects of 3-4 cells."""
  return CenterNet(backbone=resnet.cifar_resnet20(num_classes=1, stem_stride=2, dtype=dtype), num_classes=num_classes,
                   stride=kwargs.pop("stride", 8), dtype=dtype, **kwargs)
