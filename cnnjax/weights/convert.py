"""The converter API: PyTorch state dicts (torchvision, timm) <-> cnnjax variables for every pair in pairs.py.

    converted = from_torch("torchvision", "resnet50", load_state_dict("resnet50.pth"), "resnet50.pth")
    model = get_model(converted.model, **converted.model_kwargs)
    logits = model.apply(converted.variables, x)          # x: [N, H, W, C]; torch's input is [N, C, H, W]
    state = to_torch("torchvision", "resnet50", converted.variables)   # loads strict into torchvision

Conventions, the same on both sides so no value is rescaled:
- Layouts: conv weight OIHW <-> kernel HWIO (grouped: [kh, kw, in/groups, out]); linear [out, in] <->
  Dense kernel [in, out]; a linear after a flatten of [C, H, W] reads the flax [H, W, C] order
  (mapping.dense_from_flattened_chw); timm's 1x1-conv SE layers are Dense layers.
- Batch norm: weight/bias -> params scale/bias, running_mean/running_var -> batch_stats mean/var.
  epsilon is 1e-5 in both (cnnjax.layers.BatchNorm). Momentum: torch's 0.1 (new = 0.9 old + 0.1 batch)
  is flax's momentum=0.9 (cnnjax.layers.flax_momentum); in training torch folds the unbiased batch
  variance into running_var, flax the biased one; the normalisation itself uses the biased one in both.
- num_batches_tracked has no flax counterpart: dropped on import, written as 0 on export.
- num_classes comes from the head's weight in the state dict, so a fine-tuned 10-class head converts too.
Unknown or missing keys and shape mismatches are one InputError naming them (mapping.to_cnnjax).
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.errors import InputError
from cnnjax.models import get_model
from cnnjax.weights import mapping
from cnnjax.weights.pairs import Pair, find_pair
from cnnjax.weights.torch_shim import import_torch


@dataclasses.dataclass
class Converted:
  """A converted model: `get_model(model, **model_kwargs).apply(variables, x)` computes the reference's logits."""

  model: str
  model_kwargs: dict[str, Any]
  variables: dict


def _num_classes_in_state(pair: Pair, state: Mapping[str, np.ndarray], what: str) -> int:
  key = f"{pair.head_entry().torch}.weight"
  if key not in state:
    raise InputError(f"{what}: no classifier weight {key!r}; this is not a {pair.source} {pair.name} state dict "
                     "(check --from and --model)")
  return int(state[key].shape[0])


def _num_classes_in_variables(pair: Pair, variables: Mapping) -> int:
  node = variables["params"]
  for key in pair.head_entry().cnnjax.split("/"):
    node = node[key]
  return int(np.shape(node["kernel"])[-1])


def template(pair: Pair, num_classes: int) -> tuple[Any, dict]:
  """The pair's cnnjax model with `num_classes` outputs and its variables' shapes (nothing computed)."""
  model = get_model(pair.model, num_classes=num_classes, **pair.model_kwargs)
  x = jnp.zeros((1, *pair.input_shape), jnp.float32)
  return model, jax.eval_shape(model.init, jax.random.key(0), x)


def from_torch(source: str, name: str, state: Mapping[str, np.ndarray], what: str) -> Converted:
  """The cnnjax model and numpy variables of the `source` ("torchvision", "timm") model `name`'s state dict.

  `what` names the weights in errors (a file name). Raises InputError on an unknown pair, unknown or
  missing keys, or shapes that differ.
  """
  pair = find_pair(source, name)
  num_classes = _num_classes_in_state(pair, state, what)
  _, shapes = template(pair, num_classes)
  variables = mapping.to_cnnjax(state, pair.entries(), shapes, what, pair.ignored)
  return Converted(pair.model, {"num_classes": num_classes, **pair.model_kwargs}, variables)


def reference_model(source: str, name: str, num_classes: int = 1000):
  """The PyTorch model of the pair, randomly initialised (never downloads); eval() not applied."""
  return find_pair(source, name).reference(num_classes)


def to_torch(source: str, name: str, variables: Mapping) -> dict[str, np.ndarray]:
  """The state dict of cnnjax `variables` for the `source` model `name`, checked by a strict load into it."""
  pair = find_pair(source, name)
  state = mapping.to_torch(variables, pair.entries())
  torch = import_torch()
  reference = pair.reference(_num_classes_in_variables(pair, variables))
  try:
    reference.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
  except RuntimeError as error:
    raise InputError(f"variables of {pair.model} do not load into {source} {name}: "
                     f"{' '.join(str(error).split())[:300]}") from None
  return state
