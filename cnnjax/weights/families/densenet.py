"""torchvision DenseNet-121/169/201 <-> cnnjax densenet121/169/201.

Same function: BN-ReLU-conv1x1-BN-ReLU-conv3x3 dense layers, BN-ReLU-conv-avgpool transitions, and
the final BN (features.norm5) + ReLU before global pooling (cnnjax's norm_final). torchvision's
published files still use the old key names "denselayerN.norm.1.weight" (for "norm1"), "conv.2"
...; they are renamed on import with torchvision's own pattern (its _load_state_dict), so both the
published files and today's state dicts load. Export writes today's names.
"""

import functools
import re
from collections.abc import Mapping

from cnnjax.weights.mapping import CONV, DENSE, NORM, Entry
from cnnjax.weights.pairs import Pair
from cnnjax.weights.torch_shim import import_torchvision

BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}
# torchvision.models.densenet._load_state_dict's pattern for the published files' old names.
OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def current_keys(state: Mapping) -> dict:
  """"...denselayer1.norm.1.weight" -> "...denselayer1.norm1.weight"; other keys unchanged."""
  renamed = {}
  for key, value in state.items():
    match = OLD_KEY.match(key)
    renamed[match.group(1) + match.group(2) if match else key] = value
  return renamed


def entries(blocks: tuple[int, ...]) -> list[Entry]:
  """features.conv0/norm0, every dense layer and transition, features.norm5 and the classifier."""
  table = [Entry("features.conv0", "conv0", CONV), Entry("features.norm0", "norm0", NORM)]
  for i, size in enumerate(blocks, start=1):
    for j in range(1, size + 1):
      torch, cnnjax = f"features.denseblock{i}.denselayer{j}", f"block{i}_layer{j}"
      table += [Entry(f"{torch}.norm1", f"{cnnjax}/norm1", NORM), Entry(f"{torch}.conv1", f"{cnnjax}/conv1", CONV),
                Entry(f"{torch}.norm2", f"{cnnjax}/norm2", NORM), Entry(f"{torch}.conv2", f"{cnnjax}/conv2", CONV)]
    if i < len(blocks):
      table += [Entry(f"features.transition{i}.norm", f"transition{i}/norm", NORM),
                Entry(f"features.transition{i}.conv", f"transition{i}/conv", CONV)]
  return table + [Entry("features.norm5", "norm_final", NORM), Entry("classifier", "classifier", DENSE)]


def reference(name: str, num_classes: int):
  """torchvision.models.<name> (densenet121/169/201), randomly initialised."""
  return getattr(import_torchvision().models, name)(weights=None, num_classes=num_classes)


PAIRS = tuple(
    Pair("torchvision", name, name, functools.partial(entries, blocks), functools.partial(reference, name),
         rename=current_keys, notes="old published key names (norm.1, conv.2, ...) accepted on import")
    for name, blocks in BLOCKS.items())
