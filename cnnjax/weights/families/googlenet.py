"""torchvision GoogLeNet <-> cnnjax "googlenet" (Inception v1 in torchvision's form).

Both use BasicConv2d = conv (no bias) + BN (eps 1e-3, momentum 0.1) + ReLU, 3x3 "5x5" branches and
ceil-mode max pools. Two torchvision quirks:
- transform_input: torchvision's ImageNet weights were trained on inputs re-normalised from the
  ImageNet mean/std to (x - 0.5) / 0.5, and its builder turns transform_input on when it loads
  them. The pair sets cnnjax's GoogLeNet(transform_input=True) to match (and the reference model is
  built with it too), so ImageNet-normalised inputs give the same logits as torchvision's.
- auxiliary classifiers: torchvision's published file has aux1.* / aux2.* (used only in training);
  they are skipped on import (`ignored`) and absent on export, as the cnnjax model here has none.
"""

from cnnjax.models.googlenet import INCEPTION
from cnnjax.weights.mapping import CONV, DENSE, NORM, Entry
from cnnjax.weights.pairs import Pair
from cnnjax.weights.torch_shim import import_torchvision

# torchvision Inception branch module -> cnnjax Inception submodule.
BRANCHES = {"branch1": "branch1", "branch2.0": "branch2_reduce", "branch2.1": "branch2_conv",
            "branch3.0": "branch3_reduce", "branch3.1": "branch3_conv", "branch4.1": "branch4_proj"}


def _basic_conv(torch: str, cnnjax: str) -> list[Entry]:
  return [Entry(f"{torch}.conv", f"{cnnjax}/conv", CONV), Entry(f"{torch}.bn", f"{cnnjax}/bn", NORM)]


def entries() -> list[Entry]:
  """The stem's conv1-3, every Inception branch's conv + BN, and fc."""
  table = [e for name in ("conv1", "conv2", "conv3") for e in _basic_conv(name, name)]
  for module in INCEPTION:
    for torch, cnnjax in BRANCHES.items():
      table += _basic_conv(f"{module}.{torch}", f"{module}/{cnnjax}")
  return table + [Entry("fc", "fc", DENSE)]


def reference(num_classes: int):
  """torchvision.models.googlenet as its ImageNet weights run (transform_input), without aux heads."""
  return import_torchvision().models.googlenet(weights=None, num_classes=num_classes, aux_logits=False,
                                               transform_input=True, init_weights=True)


PAIRS = (
    Pair("torchvision", "googlenet", "googlenet", entries, reference,
         model_kwargs={"transform_input": True}, ignored=("aux1.", "aux2."),
         notes="transform_input=True as torchvision's ImageNet weights expect; aux1/aux2 heads skipped"),
)
