"""One ResNet family: ResNet, ResNeXt, SE-ResNet(X)t, ImageNet and CIFAR forms.

He et al. 2016 ("Deep Residual Learning"; `variant="v1.5"`, torchvision's default: stride in the 3x3
of the bottleneck; `variant="v1"`, the paper's and the SENet table's: stride in the first 1x1), Xie et al. 2017 (ResNeXt: `cardinality`, `base_width`), Hu et al. 2018
(SE: `attention`). `shortcut="none"` drops every shortcut: the plain nets of He et al.'s Fig. 1/6.
[N, H, W, C] -> [N, num_classes] logits in float32.

The building blocks are fields with plain flax defaults, as in flax's examples/imagenet and timm:
`conv` (nn.Conv), `norm` (cnnjax.layers.BatchNorm: torch's settings), `act` (ReLU) and `norm_act`,
which computes act(norm(y) [+ shortcut]) in one layer when given (None: norm, add, act). Dtype,
initialisers and padding are set once in `ResNet.__call__`. Intermediate feature maps for dense heads (FCN, U-Net):

    feats = model.apply(variables, x, method=ResNet.features)   # dict
    # keys: "stem" (after the stem, incl. max pool), "layer1" ... "layerN" (stage outputs)

`ResNet.features(x, train)` is `model(x, train, return_features=True)`.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import BatchNorm, ModuleDef, SqueezeExcite

conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # torchvision's kaiming_normal_(fan_out)
SHORTCUTS = ("projection", "zero_pad", "none")
VARIANTS = ("v1.5", "v1")
STEMS = ("imagenet", "cifar")
# torch's padding=1 on every 3x3 conv. "SAME" differs on a stride-2 conv over an even size: it pads
# (0, 1), torch (1, 1), so the sampled positions (and converted weights' outputs) would shift by one.
PAD_3X3 = ((1, 1), (1, 1))


def _shortcut(x, out_channels: int, strides: int, kind: str, conv: ModuleDef, norm: ModuleDef):
  """Identity when shapes agree; else a 1x1 conv + BN ("projection", option B) or strided
  subsampling with zero-padded channels ("zero_pad", option A of He et al., no parameters).
  None for "none" (a plain net: the block adds nothing)."""
  if kind == "none":
    return None
  if strides == 1 and x.shape[-1] == out_channels:
    return x
  if kind == "projection":
    x = conv(out_channels, (1, 1), strides=(strides, strides), name="downsample_conv")(x)
    return norm(name="downsample_bn")(x)
  extra = out_channels - x.shape[-1]
  x = x[:, ::strides, ::strides, :]
  return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))


class BasicBlock(nn.Module):
  """Two 3x3 convolutions and a shortcut: [N, H, W, C] -> [N, H/s, W/s, filters]."""

  filters: int
  strides: int
  conv: ModuleDef
  norm: ModuleDef
  act: Callable
  shortcut: str = "projection"
  cardinality: int = 1
  base_width: int = 64
  attention: ModuleDef | None = None
  zero_init_last: bool = False
  norm_act: ModuleDef | None = None  # act(norm(y) [+ shortcut]) as one layer; None composes norm and act
  variant: str = "v1.5"  # where a Bottleneck strides (VARIANTS); the same for both in a BasicBlock
  expansion = 1

  @nn.compact
  def __call__(self, x):
    if self.cardinality != 1 or self.base_width != 64:
      raise ValueError("BasicBlock supports only cardinality=1 and base_width=64; use Bottleneck for ResNeXt")
    y = self.conv(self.filters, (3, 3), strides=(self.strides, self.strides), padding=PAD_3X3, name="conv1")(x)
    y = _norm_act(self, "bn1", y)
    y = self.conv(self.filters, (3, 3), padding=PAD_3X3, name="conv2")(y)
    shortcut = _shortcut(x, self.filters, self.strides, self.shortcut, self.conv, self.norm)
    if self.attention is None:
      return _norm_act(self, "bn2", y, shortcut, _last_scale_init(self.zero_init_last))
    y = self.norm(name="bn2", scale_init=_last_scale_init(self.zero_init_last))(y)
    return self.act(_add(self.attention(name="se")(y), shortcut))


class Bottleneck(nn.Module):
  """1x1 reduce, 3x3 (grouped, strided), 1x1 expand x4: [N, H, W, C] -> [N, H/s, W/s, 4 filters]."""

  filters: int
  strides: int
  conv: ModuleDef
  norm: ModuleDef
  act: Callable
  shortcut: str = "projection"
  cardinality: int = 1
  base_width: int = 64
  attention: ModuleDef | None = None
  zero_init_last: bool = False
  norm_act: ModuleDef | None = None  # act(norm(y) [+ shortcut]) as one layer; None composes norm and act
  variant: str = "v1.5"  # where a Bottleneck strides (VARIANTS); the same for both in a BasicBlock
  expansion = 4

  @nn.compact
  def __call__(self, x):
    width = int(self.filters * self.base_width / 64) * self.cardinality
    out = self.filters * self.expansion
    s1, s2 = (self.strides, 1) if self.variant == "v1" else (1, self.strides)
    y = _norm_act(self, "bn1", self.conv(width, (1, 1), strides=(s1, s1), name="conv1")(x))
    y = self.conv(width, (3, 3), strides=(s2, s2), padding=PAD_3X3, feature_group_count=self.cardinality,
                  name="conv2")(y)
    y = _norm_act(self, "bn2", y)
    y = self.conv(out, (1, 1), name="conv3")(y)
    shortcut = _shortcut(x, out, self.strides, self.shortcut, self.conv, self.norm)
    if self.attention is None:
      return _norm_act(self, "bn3", y, shortcut, _last_scale_init(self.zero_init_last))
    y = self.norm(name="bn3", scale_init=_last_scale_init(self.zero_init_last))(y)
    return self.act(_add(self.attention(name="se")(y), shortcut))


def _add(y, shortcut):
  """y + shortcut, or y alone in a plain net (shortcut None)."""
  return y if shortcut is None else y + shortcut


def _last_scale_init(zero: bool):
  return nn.initializers.zeros if zero else nn.initializers.ones


def _norm_act(block, name: str, y, residual=None, scale_init=nn.initializers.ones):
  """act(norm(y) [+ residual]): the block's norm_act when it has one, else norm, add and act."""
  if block.norm_act is not None:
    return block.norm_act(name=name, scale_init=scale_init)(y, residual)
  y = block.norm(name=name, scale_init=scale_init)(y)
  return block.act(y if residual is None else y + residual)


class ResNet(nn.Module):
  """Stem, stages of residual blocks (first block of stages 2.. strides by 2), global pool, dense head.

  `stem="imagenet"`: 7x7/2 conv + 3x3/2 max pool, widths 64,128,256,512 (x expansion).
  `stem="cifar"`: one 3x3 conv (stride `stem_stride`, 1 in the paper), widths 16,32,64 and usually
  `shortcut="zero_pad"` (`"none"`: the plain net). `variant`: "v1.5" or "v1" (module docstring). `conv`, `norm`, `act` and `norm_act` are the blocks (module docstring).
  """

  stage_sizes: Sequence[int]
  block: ModuleDef = BasicBlock
  num_classes: int = 1000
  widths: Sequence[int] = (64, 128, 256, 512)
  stem: str = "imagenet"
  stem_stride: int = 1
  shortcut: str = "projection"
  variant: str = "v1.5"
  cardinality: int = 1
  base_width: int = 64
  attention: ModuleDef | None = None
  zero_init_last_bn: bool = False
  act: Callable = nn.relu
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  norm: ModuleDef = BatchNorm
  norm_act: ModuleDef | None = None

  def _check(self):
    if self.stem not in STEMS:
      raise ValueError(f"ResNet stem={self.stem!r} is unknown; use one of {STEMS}")
    if self.shortcut not in SHORTCUTS:
      raise ValueError(f"ResNet shortcut={self.shortcut!r} is unknown; use one of {SHORTCUTS}")
    if self.variant not in VARIANTS:
      raise ValueError(f"ResNet variant={self.variant!r} is unknown; use one of {VARIANTS}")
    if len(self.widths) != len(self.stage_sizes):
      raise ValueError(f"ResNet has {len(self.stage_sizes)} stages but {len(self.widths)} widths; "
                       "give one width per stage")

  @nn.compact
  def __call__(self, x, train: bool = False, return_features: bool = False):
    self._check()
    conv = functools.partial(self.conv, use_bias=False, dtype=self.dtype, kernel_init=conv_init, padding="SAME")
    norm = functools.partial(self.norm, use_running_average=not train, dtype=self.dtype)
    norm_act = None
    if self.norm_act is not None:
      norm_act = functools.partial(self.norm_act, use_running_average=not train, dtype=self.dtype)
    attention = None
    if self.attention is not None:
      attention = functools.partial(self.attention, dtype=self.dtype)
    features = {}
    x = x.astype(self.dtype)
    if self.stem == "imagenet":
      x = conv(self.widths[0], (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), name="conv1")(x)
      x = norm_act(name="bn1")(x) if norm_act else self.act(norm(name="bn1")(x))
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    else:
      x = conv(self.widths[0], (3, 3), strides=(self.stem_stride, self.stem_stride), name="conv1")(x)
      x = norm_act(name="bn1")(x) if norm_act else self.act(norm(name="bn1")(x))
    features["stem"] = x
    for i, (num_blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
      for j in range(num_blocks):
        x = self.block(width, strides=2 if i > 0 and j == 0 else 1, conv=conv, norm=norm, act=self.act,
                       shortcut=self.shortcut, cardinality=self.cardinality, base_width=self.base_width,
                       attention=attention, zero_init_last=self.zero_init_last_bn, norm_act=norm_act,
                       variant=self.variant, name=f"layer{i + 1}_block{j}")(x)
      features[f"layer{i + 1}"] = x
    if return_features:
      return features
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)
    return x.astype(jnp.float32)

  def features(self, x, train: bool = False) -> dict:
    """Named intermediate feature maps (see the module docstring)."""
    return self(x, train, return_features=True)


resnet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block=BasicBlock)
resnet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BasicBlock)
resnet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block=Bottleneck)
resnet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block=Bottleneck)
resnet152 = functools.partial(ResNet, stage_sizes=(3, 8, 36, 3), block=Bottleneck)

resnext50_32x4d = functools.partial(resnet50, cardinality=32, base_width=4)
resnext101_32x8d = functools.partial(resnet101, cardinality=32, base_width=8)
resnext101_64x4d = functools.partial(resnet101, cardinality=64, base_width=4)
# Zagoruyko & Komodakis 2016 as torchvision builds it: the bottleneck's inner width doubled (base_width 128).
wide_resnet50_2 = functools.partial(resnet50, base_width=128)
wide_resnet101_2 = functools.partial(resnet101, base_width=128)

# Hu et al. 2018: SE (reduction 16, after the last BN of each block, before the addition).
se_resnet50 = functools.partial(resnet50, attention=functools.partial(SqueezeExcite, reduction=16))
se_resnext50_32x4d = functools.partial(resnext50_32x4d, attention=functools.partial(SqueezeExcite, reduction=16))

_cifar = functools.partial(ResNet, block=BasicBlock, stem="cifar", widths=(16, 32, 64), shortcut="zero_pad",
                           num_classes=10)


def cifar_resnet(depth: int, **kwargs):
  """He et al.'s CIFAR ResNet of depth 6n+2 (n blocks per stage, 16/32/64 channels, option A)."""
  if (depth - 2) % 6:
    raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...); got {depth}")
  return _cifar(stage_sizes=((depth - 2) // 6,) * 3, **kwargs)


cifar_resnet20 = functools.partial(cifar_resnet, 20)
cifar_resnet32 = functools.partial(cifar_resnet, 32)
cifar_resnet44 = functools.partial(cifar_resnet, 44)
cifar_resnet56 = functools.partial(cifar_resnet, 56)
cifar_resnet110 = functools.partial(cifar_resnet, 110)

# ResNeXt-29 (Xie et al. Sec. 5.3, CIFAR): 3 stages of 3 bottlenecks, 64-channel 3x3 stem,
# bottleneck widths 64/128/256 x base_width/64 x cardinality, outputs 256/512/1024.
resnext29_8x64d = functools.partial(ResNet, stage_sizes=(3, 3, 3), block=Bottleneck, stem="cifar",
                                    widths=(64, 128, 256), cardinality=8, base_width=64, num_classes=10)
