"""What config.model_kwargs and config.augment may hold: the chosen model's fields and each augmentation's
keywords, with their defaults.

Why: those two sections hold only an experiment's choices (what differs from the paper's defaults), so the
model and the augmentation functions stay the one source of their defaults and types. The command line
reads the options here to type a new key (`--config.model_kwargs.dtype=bfloat16`,
`--config.augment.crop.padding=4`), the checks to refuse unknown ones with close matches, and the resume
check to treat a key that one side leaves out as its default.
"""

import functools
import inspect
import typing
from typing import Any

import numpy as np

# Fields of every linen module that no config sets: linen's own, and the class count (config.dataset.num_classes).
_NOT_OPTIONS = ("parent", "name", "num_classes")
_AUGMENT_ARGUMENTS = ("rng", "images", "labels")


def _is_dtype(value) -> bool:
  """jnp.float32, np.float32 or np.dtype('float32'), but not the string 'float32' nor a module class."""
  if isinstance(value, np.dtype):
    return True
  if not isinstance(value, type) or not (issubclass(value, np.generic) or hasattr(value, "dtype")):
    return False
  try:
    return np.dtype(value).kind in "biufcV" or np.dtype(value).name == "bfloat16"
  except (TypeError, ValueError):
    return False


def _plain(value) -> tuple[bool, Any]:
  """(True, the value as a config holds it) for numbers, strings, booleans, None, dtypes (as their name) and
  tuples of those; (False, None) for building blocks (modules, functions)."""
  if value is None or isinstance(value, (bool, int, float, str)):
    return True, value
  if _is_dtype(value):
    return True, np.dtype(value).name
  if isinstance(value, (tuple, list)):
    items = [_plain(v) for v in value]
    return all(ok for ok, _ in items), tuple(v for _, v in items)
  return False, None


def _optional_value_type(annotation) -> type | None:
  """int for `int | None` (a value a config can hold); None for `ModuleDef | None` and other building blocks."""
  args = [a for a in typing.get_args(annotation) if a is not type(None)]
  return args[0] if len(args) == 1 and args[0] in (bool, int, float, str) else None


@functools.cache
def _model_fields(model: str) -> tuple[dict[str, Any], dict[str, type], tuple[str, ...], tuple[str, ...]]:
  import dataclasses
  from cnnjax.models import MODELS
  module = MODELS[model]()  # building a linen module computes nothing
  options, optional_types, blocks, dtypes = {}, {}, [], []
  for field in dataclasses.fields(module):
    if field.name in _NOT_OPTIONS:
      continue
    value = getattr(module, field.name)
    if value is None:
      ok, plain = _optional_value_type(field.type) is not None, None
      if ok:
        optional_types[field.name] = _optional_value_type(field.type)
    else:
      ok, plain = _plain(value)
    if ok:
      options[field.name] = plain
      if _is_dtype(value):
        dtypes.append(field.name)
    else:
      blocks.append(field.name)
  return options, optional_types, tuple(blocks), tuple(dtypes)


def model_options(model: str) -> dict[str, Any]:
  """Field -> default of the registered `model`'s fields that a config can set (dtypes as names, e.g. 'float32').

  E.g. model_options('lenet5')['conv_features'] == (6, 16). Building blocks (conv, norm, ...) are left out:
  they are chosen in Python, and cnnjax.fast swaps them.
  """
  return dict(_model_fields(model)[0])


def model_option_type(model: str, option: str) -> type:
  """The type of a value of `model`'s `option`: its default's, or the declared one for a None default
  (`conv1_padding: int | None = None` -> int)."""
  options, optional_types = _model_fields(model)[:2]
  return optional_types.get(option, type(options[option]))


def model_building_blocks(model: str) -> tuple[str, ...]:
  """The registered `model`'s fields that take a module or function (conv, norm, block, attention, ...)."""
  return _model_fields(model)[2]


def model_dtype_options(model: str) -> tuple[str, ...]:
  """The registered `model`'s fields that take a dtype (its compute `dtype`), given in a config by name."""
  return _model_fields(model)[3]


def augment_options(name: str) -> dict[str, Any]:
  """Keyword -> default of the augmentation `name` in cnnjax.data.augment.AUGMENTATIONS."""
  from cnnjax.data.augment import AUGMENTATIONS
  parameters = inspect.signature(AUGMENTATIONS[name]).parameters.values()
  return {p.name: p.default for p in parameters
          if p.name not in _AUGMENT_ARGUMENTS and p.default is not inspect.Parameter.empty}


def augment_names() -> list[str]:
  from cnnjax.data.augment import AUGMENTATIONS
  return sorted(AUGMENTATIONS)


def unknown(section: str, key: str, known, what: str):
  """The InputError for `section.key` not among `known`, e.g. "config.model_kwargs.activations is not an
  option of lenet5; did you mean config.model_kwargs.activation? Known: activation, ..."."""
  import difflib
  from cnnjax.errors import InputError
  known = sorted(known)
  close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
  hint = f"; did you mean {', '.join(f'{section}.{c}' for c in close)}?" if close else ""
  return InputError(f"{section}.{key} is not {what}{hint} Known: {', '.join(known) or 'none'}")
