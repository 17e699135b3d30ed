"""torchvision AlexNet ("one weird trick" variant) <-> cnnjax "alexnet_torchvision".

Same function: 64/192/384/256/256 filters, conv1 padding 2, no LRN, adaptive 6x6 average pool,
dropout before fc6 and fc7. The one layout quirk is fc6, which reads torch's C,H,W-flattened
6x6x256 map while cnnjax flattens H,W,C (dense_from_flattened_chw).
"""

from cnnjax.weights.mapping import CONV, DENSE, Entry, dense_from_flattened_chw
from cnnjax.weights.pairs import Pair
from cnnjax.weights.torch_shim import import_torchvision

CONV_INDICES = (0, 3, 6, 8, 10)  # features.N of conv1 ... conv5 (ReLU and max pools in between)


def entries() -> list[Entry]:
  """torchvision's features.N / classifier.N modules as cnnjax's conv1 ... conv5, fc6 ... fc8."""
  convs = [Entry(f"features.{index}", f"conv{i}", CONV) for i, index in enumerate(CONV_INDICES, start=1)]
  return convs + [
      Entry("classifier.1", "fc6", dense_from_flattened_chw(256, 6, 6)),
      Entry("classifier.4", "fc7", DENSE),
      Entry("classifier.6", "fc8", DENSE),
  ]


def reference(num_classes: int):
  """torchvision.models.alexnet, randomly initialised."""
  return import_torchvision().models.alexnet(weights=None, num_classes=num_classes)


PAIRS = (
    Pair("torchvision", "alexnet", "alexnet_torchvision", entries, reference,
         notes="fc6 reads torch's C,H,W flattening of the 6x6x256 pooled map; inputs from 63x63 up"),
)
