"""One table per model maps PyTorch modules to flax modules; both conversion directions follow from it.

An `Entry` pairs a torch module prefix ("layer1.0.conv1") with a flax module path
("layer1_block0/conv1") and a `Layout` that turns the torch module's tensors into the flax
module's variables and back (conv: OIHW <-> HWIO; linear: [out, in] <-> [in, out]; batch norm:
weight/bias/running_mean/running_var <-> params scale/bias and batch_stats mean/var).

`to_cnnjax` fills a template of the model's variables (its shapes, from jax.eval_shape) and refuses,
in one InputError, torch keys the table does not consume and template leaves it does not fill,
as well as any shape that differs. `to_torch` is the exact inverse.
"""

import dataclasses
from collections.abc import Callable, Iterable, Mapping

import numpy as np
from flax import traverse_util

from cnnjax.errors import InputError

Tensors = dict[str, np.ndarray]  # one torch module's tensors by their own names ("weight", "bias", ...)
Collections = dict[str, dict[str, np.ndarray]]  # one flax module's leaves by collection ("params", "batch_stats")
_SHOWN = 8  # names listed in an error before "(+N more)"


@dataclasses.dataclass(frozen=True)
class Layout:
  """How one torch module's tensors become one flax module's variables (to_cnnjax) and back (to_torch)."""

  name: str
  to_cnnjax: Callable[[Tensors], Collections]
  to_torch: Callable[[Collections], Tensors]


def _with_bias(tensors: Tensors, params: dict) -> dict:
  if "bias" in tensors:
    params["bias"] = tensors["bias"]
  return params


def _bias_of(collections: Collections) -> Tensors:
  params = collections["params"]
  return {"bias": params["bias"]} if "bias" in params else {}


CONV = Layout(
    "conv",  # torch [out, in/groups, kh, kw] <-> flax [kh, kw, in/groups, out]
    lambda t: {"params": _with_bias(t, {"kernel": np.transpose(t["weight"], (2, 3, 1, 0))})},
    lambda c: {"weight": np.transpose(c["params"]["kernel"], (3, 2, 0, 1)), **_bias_of(c)})

DENSE = Layout(
    "dense",  # torch [out, in] <-> flax [in, out]
    lambda t: {"params": _with_bias(t, {"kernel": np.transpose(t["weight"])})},
    lambda c: {"weight": np.transpose(c["params"]["kernel"]), **_bias_of(c)})

DENSE_FROM_1X1_CONV = Layout(
    "dense_from_1x1_conv",  # torch 1x1 conv [out, in, 1, 1] (timm's SE fc1/fc2) <-> flax Dense [in, out]
    lambda t: {"params": _with_bias(t, {"kernel": np.transpose(t["weight"][:, :, 0, 0])})},
    lambda c: {"weight": np.transpose(c["params"]["kernel"])[:, :, None, None], **_bias_of(c)})

NORM = Layout(
    "batch_norm",  # num_batches_tracked has no flax counterpart: dropped on import, 0 on export
    lambda t: {"params": {"scale": t["weight"], "bias": t["bias"]},
               "batch_stats": {"mean": t["running_mean"], "var": t["running_var"]}},
    lambda c: {"weight": c["params"]["scale"], "bias": c["params"]["bias"],
               "running_mean": c["batch_stats"]["mean"], "running_var": c["batch_stats"]["var"],
               "num_batches_tracked": np.zeros((), np.int64)})

IGNORED_ON_IMPORT = ("num_batches_tracked",)


def dense_from_flattened_chw(channels: int, height: int, width: int) -> Layout:
  """A linear layer that reads a flattened [C, H, W] map in torch and a flattened [H, W, C] map in flax."""

  def to_cnnjax(t: Tensors) -> Collections:
    out = t["weight"].shape[0]
    kernel = t["weight"].reshape(out, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, out)
    return {"params": _with_bias(t, {"kernel": kernel})}

  def to_torch(c: Collections) -> Tensors:
    kernel = c["params"]["kernel"]
    out = kernel.shape[-1]
    weight = kernel.reshape(height, width, channels, out).transpose(3, 2, 0, 1).reshape(out, -1)
    return {"weight": weight, **_bias_of(c)}

  return Layout(f"dense_from_chw_{channels}x{height}x{width}", to_cnnjax, to_torch)


@dataclasses.dataclass(frozen=True)
class Entry:
  """The torch module `torch` ("features.0") is the flax module `cnnjax` ("conv1_1"), related by `layout`."""

  torch: str
  cnnjax: str
  layout: Layout = CONV


def _listed(names: Iterable[str]) -> str:
  names = sorted(names)
  shown = ", ".join(names[:_SHOWN])
  return shown + (f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def _module_tensors(state: Mapping[str, np.ndarray], prefix: str) -> Tensors:
  start = prefix + "."
  return {key[len(start):]: value for key, value in state.items()
          if key.startswith(start) and "." not in key[len(start):]}


def to_cnnjax(state: Mapping[str, np.ndarray], entries: Iterable[Entry], template: Mapping, what: str,
              ignored: Iterable[str] = ()) -> dict:
  """The variables of `template`'s structure filled from the torch `state` through `entries`.

  `template` is the model's variables (arrays or jax.ShapeDtypeStructs); `ignored` lists torch key
  prefixes the model has no counterpart for (e.g. auxiliary heads), skipped on purpose. `what`
  names the source in errors ("resnet18.pth").
  """
  expected = traverse_util.flatten_dict(template)
  filled: dict[tuple[str, ...], np.ndarray] = {}
  used: set[str] = set()
  mismatched, lacking = [], []
  for entry in entries:
    tensors = _module_tensors(state, entry.torch)
    if not tensors:
      continue  # reported below as the template leaves left empty
    used.update(f"{entry.torch}.{name}" for name in tensors)
    module = tuple(entry.cnnjax.split("/"))
    try:
      converted = entry.layout.to_cnnjax(tensors)
    except KeyError as error:  # e.g. a batch norm without its running_var
      lacking.append(f"{entry.torch}.{error.args[0]}")
      continue
    for collection, leaves in converted.items():
      for leaf, value in leaves.items():
        path = (collection,) + module + (leaf,)
        if path in expected and tuple(expected[path].shape) != tuple(value.shape):
          mismatched.append(f"{entry.torch} -> {'/'.join(path)}: {tuple(value.shape)} vs {tuple(expected[path].shape)}")
        filled[path] = np.array(value, dtype=expected[path].dtype if path in expected else value.dtype)  # a copy: never aliases the source
  ignored = tuple(ignored) + IGNORED_ON_IMPORT
  unknown = [key for key in state if key not in used and not any(key.startswith(p) or key.endswith(p) for p in ignored)]
  missing = ["/".join(path) for path in expected if path not in filled]
  extra = ["/".join(path) for path in filled if path not in expected]
  problems = []
  if lacking:
    problems.append(f"keys the weights lack: {_listed(lacking)}")
  if unknown:
    problems.append(f"keys with no counterpart in the model: {_listed(unknown)}")
  if missing:
    problems.append(f"model variables the weights do not provide: {_listed(missing)}")
  if extra:
    problems.append(f"mapped variables the model does not have: {_listed(extra)}")
  if mismatched:
    problems.append(f"shapes that differ (weights vs model): {_listed(mismatched)}")
  if problems:
    raise InputError(f"{what}: " + "; ".join(problems) + "; check --from and --model (and the model's options)")
  return traverse_util.unflatten_dict(filled)


def to_torch(variables: Mapping, entries: Iterable[Entry]) -> dict[str, np.ndarray]:
  """The torch state dict of `variables` through `entries` (the inverse of to_cnnjax)."""
  flat = traverse_util.flatten_dict(variables)
  state: dict[str, np.ndarray] = {}
  for entry in entries:
    module = tuple(entry.cnnjax.split("/"))
    collections: Collections = {}
    for path, value in flat.items():
      if path[1:-1] == module:
        collections.setdefault(path[0], {})[path[-1]] = np.asarray(value)
    if collections:
      for name, tensor in entry.layout.to_torch(collections).items():
        state[f"{entry.torch}.{name}"] = np.asarray(tensor, order="C")  # ascontiguousarray would make 0-d 1-d
  return state
