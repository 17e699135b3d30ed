"""The converted pairs: which PyTorch model (torchvision or timm) is which cnnjax model, and how they map.

Each family module (families/resnet.py, ...) lists its pairs; PAIRS joins them in one read-only
table keyed by (source, name), e.g. ("torchvision", "resnet18") or ("timm", "seresnet50").
"""

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from cnnjax.errors import unknown_name
from cnnjax.weights.mapping import Entry

SOURCES = ("torchvision", "timm")


@dataclasses.dataclass(frozen=True)
class Pair:
  """One PyTorch model and the cnnjax model with the same function.

  `entries()` is the module table (cnnjax.weights.mapping); `reference(num_classes)` builds the
  PyTorch model, randomly initialised (tests and the parity table; never downloads); `ignored`
  lists torch key prefixes the cnnjax model deliberately lacks; `notes` says what differs in
  convention (e.g. GoogLeNet's transform_input). `head` is the torch prefix of the classifier whose
  weight's first axis is num_classes ("fc", "classifier.6"); empty: the last entry's.
  """

  source: str
  name: str
  model: str
  entries: Callable[[], list[Entry]]
  reference: Callable[[int], Any]
  model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  input_shape: tuple[int, int, int] = (224, 224, 3)
  ignored: tuple[str, ...] = ()
  notes: str = ""
  head: str = ""

  def head_entry(self) -> Entry:
    """The classifier's entry: the one named by `head`, else the table's last."""
    entries = self.entries()
    return next((e for e in entries if e.torch == self.head), entries[-1]) if self.head else entries[-1]


def build_pairs(*families: tuple[Pair, ...]) -> Mapping[tuple[str, str], Pair]:
  table: dict[tuple[str, str], Pair] = {}
  for family in families:
    for pair in family:
      key = (pair.source, pair.name)
      if key in table:
        raise ValueError(f"pair {key} is listed twice")
      table[key] = pair
  return MappingProxyType(table)


def _all_pairs() -> Mapping[tuple[str, str], Pair]:
  from cnnjax.weights.families import alexnet, densenet, googlenet, resnet, vgg
  return build_pairs(resnet.PAIRS, vgg.PAIRS, alexnet.PAIRS, googlenet.PAIRS, densenet.PAIRS)


def pairs() -> Mapping[tuple[str, str], Pair]:
  """Every converted pair, keyed by (source, name)."""
  return _all_pairs()


def find_pair(source: str, name: str) -> Pair:
  """The pair for `name` of `source`; an InputError with close names when there is none."""
  if source not in SOURCES:
    raise unknown_name("--from", source, SOURCES)
  table = pairs()
  if (source, name) not in table:
    raise unknown_name(f"--model (for --from {source})", name, [n for s, n in table if s == source])
  return table[(source, name)]
