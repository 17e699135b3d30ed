"""Model registry: an explicit dict from name to factory, built in one place.

No import side effects fill it: every entry is listed below, duplicates are refused
and an unknown name gets an error with close matches.
"""

import difflib
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

from cnnjax.models import alexnet, conv1d, densenet, fcn, googlenet, lenet, linear, mlp, resnet, segnet, unet, vgg

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
])


def model_names() -> list[str]:
  return sorted(MODELS)


def get_model(name: str, **kwargs: Any):
  """Builds the registered model `name` with keyword arguments (num_classes, dtype, ...)."""
  if name not in MODELS:
    close = difflib.get_close_matches(name, MODELS, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"unknown model {name!r}{hint} Registered models: {', '.join(model_names())}")
  return MODELS[name](**kwargs)
