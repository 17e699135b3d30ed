"""Weights directories: a model's variables (orbax) plus weights.json naming the model and how to feed it.

    save_weights("resnet18_imagenet", "resnet18", {"num_classes": 1000}, variables, input_shape=(224, 224, 3),
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=names, preprocessing="imagenet_eval",
                 source={"from": "torchvision", "model": "resnet18", "weights": "resnet18.pth"})
    loaded = load_weights("resnet18_imagenet")   # WeightsDirectory; get_model(loaded.model, **loaded.model_kwargs)

Why one folder: `cnnjax convert` writes it and predict, export and fine-tuning (config.init_from) read it,
so the model, its input and its class names travel with the numbers. weights.json holds sha256 digests of
every array, checked on load, as run checkpoints do (cnnjax.train.checkpoint).
Writing never replaces anything: an existing non-empty folder is refused; the folder is written next to its
final name and renamed into place once complete, so a crash leaves no half-written weights directory.
"""

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnjax.errors import InputError

WEIGHTS_JSON = "weights.json"
VARIABLES = "variables"
FORMAT_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_FIELDS = ("model", "model_kwargs", "input_shape", "mean", "std", "class_names", "preprocessing", "source")


@dataclasses.dataclass
class WeightsDirectory:
  """What a weights directory holds: `get_model(model, **model_kwargs).apply(variables, x)` gives logits for
  x [N, *input_shape] preprocessed by `preprocessing` ("imagenet_eval" or "resize") with mean/std per channel."""

  model: str
  model_kwargs: dict[str, Any]
  variables: dict
  input_shape: tuple[int, int, int]
  mean: tuple[float, ...]
  std: tuple[float, ...]
  class_names: list[str] | None
  preprocessing: str
  source: dict[str, Any]


def is_weights_directory(path: str | Path) -> bool:
  """Whether `path` is a folder holding weights.json (its contents are checked by load_weights)."""
  return (Path(path) / WEIGHTS_JSON).is_file()


def _digests(variables) -> dict[str, str]:
  """sha256 of every array (its dtype, shape and bytes), keyed by its path ('params/conv1/kernel')."""
  import jax
  found = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
    value = np.asarray(leaf)
    h = hashlib.sha256(f"{value.dtype.str}{value.shape}".encode())
    h.update(np.ascontiguousarray(value).tobytes())
    found["/".join(str(getattr(k, "key", k)) for k in path)] = h.hexdigest()
  return found


def _refuse_existing(out: Path) -> None:
  if out.exists() and (not out.is_dir() or any(out.iterdir())):
    raise InputError(f"--out {out} already exists{' and is not empty' if out.is_dir() else ' as a file'}; "
                     "give a new folder (weights directories are never overwritten)")


def save_weights(out_dir: str | Path, model: str, model_kwargs: dict, variables, *, input_shape: Sequence[int],
                 mean: Sequence[float], std: Sequence[float], class_names: Sequence[str] | None,
                 preprocessing: str, source: dict) -> Path:
  """Writes the weights directory `out_dir` (a new or empty folder) and returns its path.

  Raises InputError when `out_dir` exists and is not empty, or when mean/std/class_names do not fit.
  """
  import jax
  import orbax.checkpoint as ocp
  out = Path(out_dir).absolute()
  _refuse_existing(out)
  if len(mean) != len(std) or len(mean) != input_shape[-1]:
    raise InputError(f"mean {tuple(mean)} and std {tuple(std)} need one value per channel of input_shape "
                     f"{tuple(input_shape)}")
  if class_names is not None and model_kwargs.get("num_classes") not in (None, len(class_names)):
    raise InputError(f"{len(class_names)} class names for a model with num_classes={model_kwargs['num_classes']}")
  if not out.parent.is_dir():
    raise InputError(f"--out {out_dir}: folder {out.parent} does not exist; create it first")
  host = jax.tree.map(lambda a: np.asarray(jax.device_get(a)), dict(variables))
  staging = out.parent / f".{out.name}.partial-{os.getpid()}"
  shutil.rmtree(staging, ignore_errors=True)
  try:
    staging.mkdir()
    checkpointer = ocp.PyTreeCheckpointer()
    checkpointer.save(staging / VARIABLES, host)
    meta = {"format": FORMAT_VERSION, "model": model, "model_kwargs": dict(model_kwargs),
            "input_shape": [int(d) for d in input_shape], "mean": [float(m) for m in mean],
            "std": [float(s) for s in std], "class_names": None if class_names is None else list(class_names),
            "preprocessing": preprocessing, "source": dict(source), "digests": _digests(host)}
    (staging / WEIGHTS_JSON).write_text(json.dumps(meta, indent=1) + "\n")
    if out.is_dir():
      out.rmdir()  # empty (checked above): replaced by the complete folder
    staging.rename(out)
  except OSError as e:
    raise InputError(f"--out {out_dir}: cannot write the weights directory ({e.strerror or e}); "
                     "give a folder on a writable disk with free space") from e
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return out


def read_metadata(path: str | Path) -> dict:
  """weights.json of the weights directory `path`, checked for every field; InputError naming the file."""
  folder = Path(path)
  meta_path = folder / WEIGHTS_JSON
  if not folder.is_dir():
    raise InputError(f"weights directory {path} does not exist; make one with `cnnjax convert` (see --help)")
  if not meta_path.is_file():
    raise InputError(f"{path} is not a weights directory (no {WEIGHTS_JSON}); make one with `cnnjax convert`")
  try:
    meta = json.loads(meta_path.read_text())
  except (OSError, ValueError) as e:
    raise InputError(f"{meta_path} cannot be read as JSON ({' '.join(str(e).split())}); the weights directory is "
                     "damaged: convert the weights again") from None
  missing = [f for f in (*_FIELDS, "digests") if not isinstance(meta, dict) or f not in meta]
  if missing:
    raise InputError(f"{meta_path} lacks {', '.join(missing)}; the weights directory is damaged or not from "
                     "cnnjax: convert the weights again")
  return meta


def load_weights(path: str | Path) -> WeightsDirectory:
  """The weights directory at `path`, its arrays checked against their digests (numpy arrays in nested dicts).

  Raises InputError naming the file for a missing folder, an unreadable or incomplete weights.json,
  and unreadable or altered variables.
  """
  import orbax.checkpoint as ocp
  meta = read_metadata(path)
  variables_path = Path(path).absolute() / VARIABLES
  try:
    restored = ocp.PyTreeCheckpointer().restore(variables_path)
  except Exception as e:  # orbax and tensorstore raise many types for unreadable data
    raise InputError(f"{variables_path} cannot be read ({' '.join(str(e).split())[:160]}); the weights directory "
                     "is damaged: convert the weights again") from None
  import jax
  variables = jax.tree.map(np.asarray, restored)
  actual = _digests(variables)
  wrong = sorted(k for k in meta["digests"] if meta["digests"][k] != actual.get(k))
  if wrong or set(actual) != set(meta["digests"]):
    raise InputError(f"{variables_path}: {len(wrong) or 'some'} arrays differ from the sha256 digests in "
                     f"{WEIGHTS_JSON} ({', '.join(wrong[:3])}); the weights directory is damaged: convert again")
  return WeightsDirectory(
      model=meta["model"], model_kwargs=dict(meta["model_kwargs"]), variables=variables,
      input_shape=tuple(meta["input_shape"]), mean=tuple(meta["mean"]), std=tuple(meta["std"]),
      class_names=meta["class_names"], preprocessing=meta["preprocessing"], source=dict(meta["source"]))
