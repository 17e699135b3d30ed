"""torchvision VGG-11/13/16/19, with and without batch norm <-> cnnjax vgg11 ... vgg19_bn.

torchvision numbers `features` sequentially: per conv a Conv2d, [BatchNorm2d,] ReLU, and a MaxPool2d
after each stage, so the indices follow from the stage widths. fc6 reads the 7x7 adaptive-pooled
512-channel map, flattened C,H,W in torch and H,W,C in cnnjax (dense_from_flattened_chw). BN uses
torch's eps 1e-5 and momentum 0.1 (cnnjax.layers.BatchNorm); running statistics map one to one.

No FCN pair: cnnjax's FCN-32s/16s/8s (cnnjax.models.fcn) are the paper's VGG-16 FCNs, while
torchvision's only FCNs (fcn_resnet50/101) are a dilated ResNet backbone with an FCNHead (3x3 conv,
BN, dropout, 1x1 conv) and bilinear upsampling: no layer-for-layer counterpart, so no mapping is
invented (timm has no FCN either).
"""

import functools

from cnnjax.models.vgg import STAGES
from cnnjax.weights.mapping import CONV, DENSE, NORM, Entry, dense_from_flattened_chw
from cnnjax.weights.pairs import Pair
from cnnjax.weights.torch_shim import import_torchvision


def entries(depth: int, batch_norm: bool) -> list[Entry]:
  """features.N (conv, BN) and classifier.0/3/6 as cnnjax's conv{stage}_{i}, bn{stage}_{i}, fc6 ... fc8."""
  table, index = [], 0
  for stage, widths in enumerate(STAGES[depth], start=1):
    for i in range(1, len(widths) + 1):
      table.append(Entry(f"features.{index}", f"conv{stage}_{i}", CONV))
      if batch_norm:
        table.append(Entry(f"features.{index + 1}", f"bn{stage}_{i}", NORM))
      index += 3 if batch_norm else 2  # conv, [BN,] ReLU
    index += 1  # the stage's max pool
  return table + [
      Entry("classifier.0", "fc6", dense_from_flattened_chw(512, 7, 7)),
      Entry("classifier.3", "fc7", DENSE),
      Entry("classifier.6", "fc8", DENSE),
  ]


def reference(name: str, num_classes: int):
  """torchvision.models.<name> (vgg11 ... vgg19_bn), randomly initialised."""
  return getattr(import_torchvision().models, name)(weights=None, num_classes=num_classes)


def _pair(depth: int, batch_norm: bool) -> Pair:
  name = f"vgg{depth}" + ("_bn" if batch_norm else "")
  return Pair("torchvision", name, name, functools.partial(entries, depth, batch_norm),
              functools.partial(reference, name),
              notes="fc6 reads torch's C,H,W flattening of the 7x7x512 adaptive-pooled map; inputs from 32x32 up")


PAIRS = tuple(_pair(depth, batch_norm) for batch_norm in (False, True) for depth in sorted(STAGES))
