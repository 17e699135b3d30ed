"""ResNet-family pairs: torchvision ResNet/ResNeXt/Wide ResNet and timm SE-ResNet(X)t <-> cnnjax.models.resnet.

Both libraries name modules alike: `layer{i}.{j}.conv{k}`/`bn{k}` is flax `layer{i}_block{j}/conv{k}`/
`bn{k}`, `downsample.0`/`.1` (1x1 conv + BN) is `downsample_conv`/`downsample_bn`, timm's SE
`se.fc1`/`se.fc2` (1x1 convs with bias) are the Dense layers `se/fc1`/`se/fc2`, `fc` is `fc`.
The functions agree exactly: symmetric padding 1 on every 3x3 conv (cnnjax.models.resnet.PAD_3X3),
stride in the bottleneck's 3x3 (v1.5), SE hidden width C // 16 with biases, ReLU and sigmoid gate.
"""

import functools

from cnnjax.weights.mapping import CONV, DENSE, DENSE_FROM_1X1_CONV, NORM, Entry
from cnnjax.weights.pairs import Pair
from cnnjax.weights.torch_shim import import_timm, import_torchvision


def resnet_entries(stage_sizes: tuple[int, ...], convs_per_block: int, se: bool = False) -> list[Entry]:
  """The module table of a ResNet with `stage_sizes` blocks of `convs_per_block` convs (2 basic, 3 bottleneck)."""
  entries = [Entry("conv1", "conv1", CONV), Entry("bn1", "bn1", NORM)]
  for i, blocks in enumerate(stage_sizes):
    for j in range(blocks):
      torch, flax = f"layer{i + 1}.{j}", f"layer{i + 1}_block{j}"
      for k in range(1, convs_per_block + 1):
        entries += [Entry(f"{torch}.conv{k}", f"{flax}/conv{k}", CONV), Entry(f"{torch}.bn{k}", f"{flax}/bn{k}", NORM)]
      if j == 0:  # a block without a projection simply has no such tensors (and no such variables)
        entries += [Entry(f"{torch}.downsample.0", f"{flax}/downsample_conv", CONV),
                    Entry(f"{torch}.downsample.1", f"{flax}/downsample_bn", NORM)]
      if se:
        entries += [Entry(f"{torch}.se.fc1", f"{flax}/se/fc1", DENSE_FROM_1X1_CONV),
                    Entry(f"{torch}.se.fc2", f"{flax}/se/fc2", DENSE_FROM_1X1_CONV)]
  return entries + [Entry("fc", "fc", DENSE)]


def _torchvision(name: str, num_classes: int):
  return getattr(import_torchvision().models, name)(weights=None, num_classes=num_classes)


def _timm(name: str, num_classes: int):
  return import_timm().create_model(name, pretrained=False, num_classes=num_classes)


BASIC, BOTTLENECK = 2, 3
DEPTHS = {18: ((2, 2, 2, 2), BASIC), 34: ((3, 4, 6, 3), BASIC), 50: ((3, 4, 6, 3), BOTTLENECK),
          101: ((3, 4, 23, 3), BOTTLENECK), 152: ((3, 8, 36, 3), BOTTLENECK)}


def _pair(source: str, name: str, model: str, depth: int, se: bool = False) -> Pair:
  stages, convs = DEPTHS[depth]
  build = _torchvision if source == "torchvision" else _timm
  return Pair(source, name, model, entries=functools.partial(resnet_entries, stages, convs, se),
              reference=functools.partial(build, name), head="fc")


PAIRS = (
    _pair("torchvision", "resnet18", "resnet18", 18),
    _pair("torchvision", "resnet34", "resnet34", 34),
    _pair("torchvision", "resnet50", "resnet50", 50),
    _pair("torchvision", "resnet101", "resnet101", 101),
    _pair("torchvision", "resnet152", "resnet152", 152),
    _pair("torchvision", "resnext50_32x4d", "resnext50_32x4d", 50),
    _pair("torchvision", "resnext101_32x8d", "resnext101_32x8d", 101),
    _pair("torchvision", "resnext101_64x4d", "resnext101_64x4d", 101),
    _pair("torchvision", "wide_resnet50_2", "wide_resnet50_2", 50),
    _pair("torchvision", "wide_resnet101_2", "wide_resnet101_2", 101),
    _pair("timm", "seresnet50", "se_resnet50", 50, se=True),
    _pair("timm", "seresnext50_32x4d", "se_resnext50_32x4d", 50, se=True),
)
