"""One served model, from a weights directory (`--weights DIR`) or a `cnnjax train` run (`--workdir RUN`).

Why one type: predict and export work the same on converted weights and on a run; what differs is
where the input size, normalisation and class names come from (weights.json, or the run's config
and its dataset's tfds info).
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from cnnjax.errors import InputError
from cnnjax.serving.preprocess import PREPROCESSING


@dataclasses.dataclass
class Served:
  """`model.apply(variables, x, train=False)` gives logits for x [N, *input_shape] made by `preprocess`."""

  model: Any
  variables: dict
  input_shape: tuple[int, int, int]
  mean: tuple[float, ...]
  std: tuple[float, ...]
  class_names: list[str] | None
  preprocessing: str
  description: dict
  options: dict = dataclasses.field(default_factory=dict)  # the preprocessing's own keywords (crop_fraction)

  def preprocess(self, pixels: np.ndarray) -> np.ndarray:
    """uint8 [H, W, C] -> float32 [*input_shape], as these weights were evaluated."""
    return PREPROCESSING[self.preprocessing](pixels, self.input_shape, self.mean, self.std, **self.options)

  def class_name(self, index: int) -> str:
    return self.class_names[index] if self.class_names else f"class {index}"


def from_weights(path: str) -> Served:
  """The model of the weights directory `path` (cnnjax.weights.directory)."""
  from cnnjax.models import get_model
  from cnnjax.weights.directory import load_weights
  loaded = load_weights(path)
  if loaded.preprocessing not in PREPROCESSING:
    raise InputError(f"{path}/weights.json: preprocessing {loaded.preprocessing!r} is unknown (known: "
                     f"{', '.join(PREPROCESSING)}); convert the weights again")
  model = get_model(loaded.model, **loaded.model_kwargs)
  return Served(model, loaded.variables, loaded.input_shape, loaded.mean, loaded.std, loaded.class_names,
                loaded.preprocessing, {"weights": str(path), "model": loaded.model,
                                       "model_kwargs": loaded.model_kwargs, "source": loaded.source})


def load_run(workdir: str, task: str, command: str):
  """(model, variables, config dict) from the newest checkpoint of the `task` run in `workdir` (its EMA weights when
  it kept them, as its evaluation did);
  `command` (e.g. "cnnjax segment --workdir") names the asker in errors."""
  from cnnjax.models import get_model
  from cnnjax.train.checkpoint import Checkpointer
  workdir = Path(workdir)
  config_path = workdir / "config.json"
  if not config_path.is_file():
    raise InputError(f"--workdir {workdir} has no config.json; give the folder of a `cnnjax train` run")
  try:
    config = json.loads(config_path.read_text())
  except (OSError, ValueError) as e:
    raise InputError(f"{config_path} cannot be read as JSON ({e}); is --workdir the folder of a `cnnjax train` "
                     "run?") from e
  if config.get("task") != task:
    raise InputError(f"--workdir {workdir} holds a {config.get('task')!r} run; `{command}` needs a "
                     f"{task} run (config.task={task!r})")
  checkpointer = Checkpointer(workdir)
  try:
    state = checkpointer.restore()
  finally:
    checkpointer.close()
  if state is None:
    raise InputError(f"--workdir {workdir} has no checkpoint in {checkpointer.directory}; train first "
                     "(cnnjax train ...)")
  variables = {"params": state["params"]}
  if state.get("batch_stats"):
    variables["batch_stats"] = state["batch_stats"]
  if state.get("ema"):  # config.ema_decay > 0: the run was evaluated with its moving average, so serve that
    variables = dict(state["ema"])
  model = get_model(config["model"], num_classes=config["dataset"]["num_classes"], **config.get("model_kwargs", {}))
  return model, variables, config


def dataset_facts(ds: dict) -> tuple[tuple[int, int, int] | None, list[str] | None]:
  """([H, W, C] the model saw, class names) of a run's config.dataset, from its tfds info (nothing is prepared or
  downloaded); None where unknown."""
  from cnnjax.data import sources, synthetic
  size = ds.get("image_size") or 0
  channels = len(ds["mean"])
  if ds["name"] == synthetic.NAME:
    return ((size, size, channels) if size else None), None
  try:
    data_dir = sources.resolve_data_dir(ds.get("data_dir"))
    make = sources.LOCAL_BUILDERS.get(ds["name"])
    import tensorflow_datasets as tfds
    builder = make()(data_dir=data_dir) if make else tfds.builder(ds["name"], data_dir=data_dir)
    stored = tuple(builder.info.features[ds.get("image_key", "image")].shape)
    label = builder.info.features[ds.get("label_key", "label")]
    names = list(label.names) if hasattr(label, "names") else None
  except Exception:  # an unknown or unreadable dataset: the config's own size, numbered classes
    stored, names = None, None
  shape = (size, size, channels) if size else (tuple(int(d) for d in stored) if stored else None)
  return shape, names


def from_run(workdir: str, command: str) -> Served:
  """The classifier of a `cnnjax train` run: its newest checkpoint, its dataset's eval preprocessing."""
  model, variables, config = load_run(workdir, "classification", command)
  ds = config["dataset"]
  shape, names = dataset_facts(ds)
  if shape is None:
    raise InputError(f"--workdir {workdir}: the input size of dataset {ds['name']!r} is unknown here (no tfds info "
                     "and config.dataset.image_size=0); prepare the dataset, or convert the run to a weights directory")
  if names is not None and len(names) != ds["num_classes"]:
    names = None
  crop_fraction = ds.get("eval_crop_fraction", 0.0)
  preprocessing, options = ("resize_crop", {"crop_fraction": crop_fraction}) if crop_fraction else ("resize", {})
  return Served(model, variables, shape, tuple(ds["mean"]), tuple(ds["std"]), names, preprocessing,
                {"workdir": str(workdir), "model": config["model"],
                 "model_kwargs": {"num_classes": ds["num_classes"], **config.get("model_kwargs", {})}}, options)


def load_served(weights: str | None, workdir: str | None, command: str) -> Served:
  """The model of `--weights DIR` or `--workdir RUN` (exactly one of them)."""
  if (weights is None) == (workdir is None):
    raise InputError(f"`{command}`: give exactly one of --weights DIR (a weights directory) or --workdir RUN")
  return from_weights(weights) if weights else from_run(workdir, f"{command} --workdir")
