"""Model registry: an explicit dict from name to factory, built in one place.

No import side effects fill it: every entry is listed below, duplicates are refused
and an unknown name gets an error with close matches.
"""

import difflib
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

from cnnjax.models import lenet, linear, mlp, unet

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
    ("unet", unet.unet),
    ("unet_padded", unet.unet_padded),
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
