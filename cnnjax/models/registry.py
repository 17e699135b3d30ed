"""Model registry: an explicit dict from name to factory, built in one place, and each model's own input.

No import side effects fill it: every entry is listed below, duplicates are refused
and an unknown name gets an error with close matches. INPUTS says, for every registered
model, the input it was designed for (what `cnnjax summary MODEL` shows without --input_shape).
"""

import dataclasses
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

from cnnjax.errors import InputError, unknown_name
from cnnjax.models import (alexnet, centernet, conv1d, densenet, fcn, googlenet, lenet, linear, mlp, rcnn, resnet, segnet,
                           unet, vgg)

Factory = Callable[..., Any]


def build_registry(entries: Iterable[tuple[str, Factory]]) -> MappingProxyType:
  """Returns a read-only name -> factory mapping; raises on a duplicate name."""
  registry: dict[str, Factory] = {}
  for name, factory in entries:
    if name in registry:
      raise ValueError(f"model name {name!r} is registered twice; names must be unique")
    registry[name] = factory
  return MappingProxyType(registry)


MODELS = build_registry([
    ("linear", linear.LinearClassifier),
    ("logistic_neuron", linear.LogisticNeuron),
    ("mlp", mlp.MLP),
    ("lenet1", lenet.lenet1),
    ("lenet5", lenet.lenet5),
    ("alexnet", alexnet.alexnet),
    ("alexnet_torchvision", alexnet.alexnet_torchvision),
    ("vgg11", vgg.vgg11),
    ("vgg13", vgg.vgg13),
    ("vgg16", vgg.vgg16),
    ("vgg19", vgg.vgg19),
    ("vgg11_bn", vgg.vgg11_bn),
    ("vgg13_bn", vgg.vgg13_bn),
    ("vgg16_bn", vgg.vgg16_bn),
    ("vgg19_bn", vgg.vgg19_bn),
    ("googlenet", googlenet.googlenet),
    ("resnet18", resnet.resnet18),
    ("resnet34", resnet.resnet34),
    ("resnet50", resnet.resnet50),
    ("resnet101", resnet.resnet101),
    ("resnet152", resnet.resnet152),
    ("cifar_resnet20", resnet.cifar_resnet20),
    ("cifar_resnet32", resnet.cifar_resnet32),
    ("cifar_resnet44", resnet.cifar_resnet44),
    ("cifar_resnet56", resnet.cifar_resnet56),
    ("cifar_resnet110", resnet.cifar_resnet110),
    ("resnext50_32x4d", resnet.resnext50_32x4d),
    ("resnext101_32x8d", resnet.resnext101_32x8d),
    ("resnext101_64x4d", resnet.resnext101_64x4d),
    ("wide_resnet50_2", resnet.wide_resnet50_2),
    ("wide_resnet101_2", resnet.wide_resnet101_2),
    ("resnext29_8x64d", resnet.resnext29_8x64d),
    ("se_resnet50", resnet.se_resnet50),
    ("se_resnext50_32x4d", resnet.se_resnext50_32x4d),
    ("densenet121", densenet.densenet121),
    ("densenet169", densenet.densenet169),
    ("densenet201", densenet.densenet201),
    ("densenet_bc_100_k12", densenet.densenet_bc_100_k12),
    ("conv1d", conv1d.Conv1DNet),
    ("mnist1d_cnn", conv1d.mnist1d_cnn),
    ("unet", unet.unet),
    ("unet_padded", unet.unet_padded),
    ("fcn32s", fcn.fcn32s),
    ("fcn16s", fcn.fcn16s),
    ("fcn8s", fcn.fcn8s),
    ("segnet", segnet.segnet),
    ("centernet_resnet20", centernet.centernet_resnet20),
    ("centernet_resnet20_s8", centernet.centernet_resnet20_s8),
    ("rcnn_lenet5", rcnn.rcnn_lenet5),
])


class UnknownModelError(InputError, KeyError):
  """An unregistered model name: an InputError (one line, exit 2) that `except KeyError` callers still catch."""

  def __str__(self):
    return Exception.__str__(self)  # KeyError's own str would wrap the message in quotes


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """The input a model was designed for: one example's shape (no batch axis) and the layouts it accepts.

  `layouts` name the accepted shapes by their axes, e.g. ("H,W,C",) for an image model or ("L", "L,C")
  for a 1-D model that reads [N, L] as one channel.
  """

  shape: tuple[int, ...]
  layouts: tuple[str, ...]

  @property
  def ranks(self) -> tuple[int, ...]:
    return tuple(layout.count(",") + 1 for layout in self.layouts)


def image(height: int, width: int, channels: int) -> InputSpec:
  return InputSpec((height, width, channels), ("H,W,C",))


def signal(length: int, channels: int) -> InputSpec:
  return InputSpec((length, channels), ("L", "L,C"))


def flattened(*shape: int) -> InputSpec:
  """A model that flattens its input first: any layout gives the same network."""
  return InputSpec(tuple(shape), ("D", "L,C", "H,W,C"))


IMAGENET, CIFAR, MNIST = image(224, 224, 3), image(32, 32, 3), image(28, 28, 1)
INPUTS = MappingProxyType({
    "linear": flattened(28, 28, 1),  # (Fashion-)MNIST, as the lecture's models see it
    "logistic_neuron": flattened(28, 28, 1),
    "mlp": flattened(28, 28, 1),
    "lenet1": MNIST,  # LeNet-5 pads 28x28 by 2: the paper's 32x32 field (models/lenet.py)
    "lenet5": MNIST,
    "alexnet": image(227, 227, 3),  # the lecture's table: 227 makes conv1's 11x11 stride 4 give 55x55
    "alexnet_torchvision": IMAGENET,
    **{name: IMAGENET for name in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
                                   "vgg19_bn", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101",
                                   "resnet152", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
                                   "wide_resnet50_2", "wide_resnet101_2", "se_resnet50",
                                   "se_resnext50_32x4d", "densenet121", "densenet169", "densenet201")},
    **{name: CIFAR for name in ("cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56",
                                "cifar_resnet110", "resnext29_8x64d", "densenet_bc_100_k12")},
    "conv1d": signal(40, 1),  # MNIST-1D's signals, [40, 1] (data/mnist1d.py)
    "mnist1d_cnn": signal(40, 1),
    "unet": image(572, 572, 1),  # the paper's tile: 572x572 -> 388x388 (models/unet.py)
    "unet_padded": image(512, 512, 1),  # the paper's EM images (ISBI 2012), 512x512; H, W multiples of 16
    # FCN and SegNet take multiples of 32: PASCAL VOC's images (at most 500x500) rounded up, and
    # SegNet's CamVid 360x480 with the height rounded down.
    "fcn32s": image(512, 512, 3),
    "fcn16s": image(512, 512, 3),
    "fcn8s": image(512, 512, 3),
    "segnet": image(352, 480, 3),
    # Detectors: the composed Fashion-MNIST scenes (data/fashion_scenes.py), 64x64 grey.
    "centernet_resnet20": image(64, 64, 1),
    "centernet_resnet20_s8": image(64, 64, 1),
    "rcnn_lenet5": image(64, 64, 1),
})


def model_names() -> list[str]:
  return sorted(MODELS)


def get_model(name: str, **kwargs: Any):
  """Builds the registered model `name` with keyword arguments (num_classes, dtype, ...)."""
  if name not in MODELS:
    raise UnknownModelError(str(unknown_name("model", name, MODELS)))
  return MODELS[name](**kwargs)


def input_spec(name: str) -> InputSpec:
  """The input the registered model `name` was designed for (INPUTS)."""
  if name not in MODELS:
    raise UnknownModelError(str(unknown_name("model", name, MODELS)))
  return INPUTS[name]
