"""Parameter and multiply-add counting for any linen model, from its variables and its traced computation.

Convention (that of the commonly published counts, e.g. torchvision's ResNet-50 4.09 G, VGG-16
15.47 G, GoogLeNet 1.50 G; VGG-16 is checked exactly in the tests): only convolutions and matrix
products (conv_general_dilated, dot_general, cnnjax.kernels.onednn's convolution) count, one
multiply-add per product of two numbers; bias additions, normalization, activations, pooling and
elementwise products are not counted. Zero padding counts (every kernel tap of every output). A transpose convolution
lowered with input dilation counts every input value times every kernel tap, not the inserted zeros;
cnnjax's sub-pixel lowering (layers.transpose_conv.use_subpixel) is an ordinary convolution and counts
as one, its zero taps included (ceil(K/S)^2 S^2 taps per input position instead of K^2).
"""

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.kernels import onednn


def count_params(tree: Any) -> int:
  """Number of parameters: all leaves of `params`, or of `variables["params"]` (batch statistics excluded)."""
  if isinstance(tree, Mapping) and "params" in tree:
    tree = tree["params"]
  return sum(math.prod(jnp.shape(leaf)) if not hasattr(leaf, "shape") else math.prod(leaf.shape)
             for leaf in jax.tree_util.tree_leaves(tree))


def _conv_macs(eqn) -> int:
  lhs, rhs = (v.aval for v in eqn.invars[:2])
  out = eqn.outvars[0].aval
  dn = eqn.params["dimension_numbers"]
  rhs_spec = dn.rhs_spec  # (out feature dim, in feature dim, *spatial dims)
  taps = math.prod(rhs.shape[d] for d in rhs_spec[2:])
  in_per_group = rhs.shape[rhs_spec[1]]
  if any(d > 1 for d in eqn.params.get("lhs_dilation", ()) or ()):
    out_features = rhs.shape[rhs_spec[0]]
    lhs_spec = dn.lhs_spec  # (batch dim, feature dim, *spatial dims)
    positions = lhs.shape[lhs_spec[0]] * math.prod(lhs.shape[d] for d in lhs_spec[2:])
    return positions * taps * in_per_group * out_features
  return math.prod(out.shape) * taps * in_per_group


def _onednn_conv_macs(eqn) -> int:
  """cnnjax.kernels.onednn's forward convolution: every output value takes kh * kw * C_in products."""
  kh, kw, c_in, _ = eqn.invars[1].aval.shape
  return math.prod(eqn.outvars[0].aval.shape) * kh * kw * c_in


def _dot_macs(eqn) -> int:
  lhs, rhs = (v.aval for v in eqn.invars[:2])
  (_, rhs_contract), (_, rhs_batch) = eqn.params["dimension_numbers"]
  rhs_free = [d for d in range(rhs.ndim) if d not in rhs_contract and d not in rhs_batch]
  return math.prod(lhs.shape) * math.prod(rhs.shape[d] for d in rhs_free)


def _sub_jaxprs(value) -> Iterable[Any]:
  if hasattr(value, "eqns"):
    yield value
  elif hasattr(value, "jaxpr") and hasattr(value, "consts"):
    yield value.jaxpr
  elif isinstance(value, (list, tuple)):
    for item in value:
      yield from _sub_jaxprs(item)


def _walk(jaxpr, prefix: str, tally: dict[str, int], scale: int = 1) -> None:
  """Adds each conv / dot eqn's multiply-adds to tally[name stack], recursing into sub-jaxprs."""
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    stack = str(eqn.source_info.name_stack)
    where = f"{prefix}/{stack}" if prefix and stack else (prefix or stack)
    if name == "conv_general_dilated":
      tally[where] = tally.get(where, 0) + scale * _conv_macs(eqn)
    elif name == "dot_general":
      tally[where] = tally.get(where, 0) + scale * _dot_macs(eqn)
    elif name == "ffi_call" and eqn.params["target_name"] in onednn.FORWARD_TARGETS:
      tally[where] = tally.get(where, 0) + scale * _onednn_conv_macs(eqn)
    elif name == "cond":
      branches = []
      for branch in eqn.params["branches"]:
        sub: dict[str, int] = {}
        _walk(branch.jaxpr, where, sub, scale)
        branches.append(sub)
      for key, value in max(branches, key=lambda b: sum(b.values())).items():
        tally[key] = tally.get(key, 0) + value
    else:
      times = eqn.params.get("length", 1) if name == "scan" else 1
      for value in eqn.params.values():
        for sub_jaxpr in _sub_jaxprs(value):
          _walk(sub_jaxpr, where, tally, scale * times)


def _abstract_variables(model: nn.Module, x, apply_kwargs: dict):
  init_kwargs = {k: v for k, v in apply_kwargs.items() if k not in ("mutable", "rngs")}
  return jax.eval_shape(lambda k, x: model.init(k, x, **init_kwargs), jax.random.key(0), x)


def _apply_jaxpr(model: nn.Module, variables, x, apply_kwargs: dict):
  """The jaxpr of model.apply; all collections are mutable (batch statistics in training) and dropout
  gets a key, so train=True works without further arguments."""
  apply_kwargs = {"mutable": True, **apply_kwargs}
  if "rngs" not in apply_kwargs and apply_kwargs.get("train"):
    apply_kwargs["rngs"] = {"dropout": jax.random.key(0)}
  return jax.make_jaxpr(lambda v, x: model.apply(v, x, **apply_kwargs))(variables, x)


def _mac_tally(jaxpr) -> dict[str, int]:
  tally: dict[str, int] = {}
  _walk(jaxpr.jaxpr, "", tally)
  return tally


def count_multiply_adds(model: nn.Module, input_shape, input_dtype=jnp.float32, **apply_kwargs) -> int:
  """Multiply-adds of `model.apply(variables, x, **apply_kwargs)` for x of `input_shape` (batch included).

  Traced abstractly (nothing is computed): works for any model, counting conv + matmul multiply-adds
  (module docstring). Pass batch 1 for per-image counts. `scan` bodies count `length` times, the
  larger `cond` branch counts, `while` bodies count once.
  """
  x = jax.ShapeDtypeStruct(tuple(input_shape), input_dtype)
  jaxpr = _apply_jaxpr(model, _abstract_variables(model, x, apply_kwargs), x, apply_kwargs)
  return sum(_mac_tally(jaxpr).values())


def layer_table(model: nn.Module, input_shape, input_dtype=jnp.float32, **apply_kwargs) -> list[dict]:
  """One row per linen submodule, parents first, in call order: name, module, output_shape, params, multiply_adds.

  `name` is the module path ("layer1/block0/conv1"; "" for the model itself). `params` and
  `multiply_adds` include the module's children (same conventions as count_params /
  count_multiply_adds), so the root row holds the model's totals.
  """
  apply_kwargs = dict(apply_kwargs)
  calls: list[Any] = []

  def record(next_fun, args, kwargs, context):
    if context.method_name != "__call__":
      return next_fun(*args, **kwargs)
    index = len(calls)
    calls.append(None)  # parents before children: fill in the output once the call returns
    out = next_fun(*args, **kwargs)
    calls[index] = (tuple(context.module.path), type(context.module).__name__,
                    jax.tree_util.tree_map(lambda a: tuple(a.shape), out))
    return out

  x = jax.ShapeDtypeStruct(tuple(input_shape), input_dtype)
  variables = _abstract_variables(model, x, apply_kwargs)
  with nn.intercept_methods(record):
    jaxpr = _apply_jaxpr(model, variables, x, apply_kwargs)
  tally = _mac_tally(jaxpr)
  params = variables.get("params", {})
  rows, seen = [], set()
  for path, module_type, shape in calls:
    name = "/".join(path)
    if name in seen:
      continue
    seen.add(name)
    subtree = params
    for part in path:
      subtree = subtree.get(part, {}) if isinstance(subtree, Mapping) else {}
    macs = sum(v for k, v in tally.items() if _under(k, path))
    rows.append({"name": name, "module": module_type, "output_shape": shape, "params": count_params(subtree),
                 "multiply_adds": macs})
  return rows


def _module_scopes(stack: str) -> list[str]:
  """The module names in a jaxpr name stack "Model/layer1/vmap(heads)/...": the root class name is dropped,
  transform wrappers are unwrapped ("vmap(heads)" -> "heads"), and scopes of functions that lifted
  transforms add ("Model.<lambda>") are skipped (module names contain no "." or "<")."""
  scopes = []
  for part in stack.split("/")[1:]:
    while (match := re.fullmatch(r"\w+\((.*)\)", part)):
      part = match.group(1)
    if part and not any(ch in part for ch in ".<("):
      scopes.append(part)
  return scopes


def _under(stack: str, path: tuple[str, ...]) -> bool:
  """Whether a jaxpr name stack lies under the module path, e.g. ("layer1", "block0")."""
  return _module_scopes(stack)[:len(path)] == list(path)
