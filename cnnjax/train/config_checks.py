"""Checks of a config's values before any work: each refuses with an InputError naming the field, the value and the fix.

Why: a bad value should stop `cnnjax train` at once, in one line, not after compilation or (for
config.eval_batch_size=0) after the whole training. One function per concern; names are checked
against the registries that define them (models, tasks, datasets, augmentations, schedules, modes).
"""

import math

from cnnjax.errors import InputError, unknown_name

# field -> (smallest allowed value, what it counts); examples use the default config's value.
AT_LEAST = {
    "batch_size": (1, "examples per training step, over all devices"),
    "eval_batch_size": (1, "examples per evaluation batch, over all devices"),
    "log_every_steps": (1, "steps between logged training metrics"),
    "checkpoint_every_steps": (1, "steps between checkpoints"),
    "keep_checkpoints": (1, "how many recent checkpoints are kept"),
    "dataset.num_classes": (1, "classes the model predicts"),
    "dataset.image_size": (0, "0 keeps the stored size"),
    "dataset.shuffle_buffer": (0, "0 shuffles the whole split"),
    "dataset.max_objects": (1, "boxes per image after padding, for detection"),
    "dataset.num_proposals": (1, "region proposals per image, for R-CNN"),
    "detection.max_detections": (1, "detections kept per image (COCO counts up to 100)"),
    "eval_every_epochs": (0, "0 evaluates only at the end"),
    "optimizer.learning_rate": (0, "a negative rate climbs the loss"),
    "optimizer.weight_decay": (0, "a negative decay grows the weights"),
    "schedule.warmup_epochs": (0, "0 for no warmup"),
    "aux_loss_weight": (0, "0 trains without the auxiliary classifiers' losses"),
}


def _get(config, path: str):
  for key in path.split("."):
    config = config[key]
  return config


def check_values(config, defaults) -> None:
  """Runs every check below on `config`; `defaults` (config.default_config()) supplies example values."""
  check_at_least(config, defaults)
  check_duration(config)
  check_resume_step(config)
  check_optimizer(config)
  check_averaging(config)
  check_schedule(config)
  check_dataset(config)
  check_task_and_policy(config)
  check_detection(config)
  check_model(config)
  check_augment(config)
  check_fine_tuning(config)


def check_at_least(config, defaults) -> None:
  """Sizes, counts and intervals: the lower bounds in AT_LEAST (and finite)."""
  for path, (minimum, meaning) in AT_LEAST.items():
    value = _get(config, path)
    if not (value >= minimum and math.isfinite(value)):
      kind = "a finite number" if isinstance(value, float) else "an integer"
      raise InputError(f"config.{path}={value} must be {kind} >= {minimum} ({meaning}); "
                       f"e.g. --config.{path}={_get(defaults, path)}")


def check_duration(config) -> None:
  """num_train_steps >= 1 sets the length; otherwise (<= 0) num_epochs must be > 0."""
  if config.num_train_steps <= 0 and not (config.num_epochs > 0 and math.isfinite(config.num_epochs)):
    raise InputError(f"config.num_epochs={config.num_epochs} with config.num_train_steps={config.num_train_steps} "
                     "trains for no steps; set config.num_epochs > 0 or config.num_train_steps >= 1")


def check_resume_step(config) -> None:
  if config.resume_from_step < -1:
    raise InputError(f"config.resume_from_step={config.resume_from_step} is not a step; use -1 (the newest good "
                     "checkpoint), 0 (start afresh) or a saved step N >= 1")


def check_optimizer(config) -> None:
  """Momentum in [0, 1) and a known weight-decay mode (rate and decay are in AT_LEAST)."""
  from cnnjax.train.optim import WEIGHT_DECAY_MODES
  momentum = config.optimizer.momentum
  if not 0 <= momentum < 1:
    raise InputError(f"config.optimizer.momentum={momentum} must be in [0, 1) (0: plain SGD; 1 or more never "
                     "forgets a gradient and diverges); e.g. --config.optimizer.momentum=0.9")
  if config.optimizer.weight_decay_mode not in WEIGHT_DECAY_MODES:
    raise unknown_name("config.optimizer.weight_decay_mode", config.optimizer.weight_decay_mode, WEIGHT_DECAY_MODES)


def check_averaging(config) -> None:
  """Label smoothing and the EMA decay in [0, 1); flip test-time augmentation only for classification."""
  for field, example in (("label_smoothing", 0.1), ("ema_decay", 0.999)):
    value = config[field]
    if not (isinstance(value, (int, float)) and 0 <= value < 1):
      raise InputError(f"config.{field}={value} must be in [0, 1) (0 turns it off); e.g. --config.{field}={example}")
  if config.eval_flip_tta and config.task != "classification":
    raise InputError(f"config.eval_flip_tta=True averages class logits over a mirrored image, which config.task="
                     f"{config.task!r} does not predict; set it to False")


def check_schedule(config) -> None:
  """A known schedule name, a positive finite decay factor and non-negative boundaries."""
  from cnnjax.train.optim import SCHEDULES
  schedule = config.schedule
  if schedule.name not in SCHEDULES:
    raise unknown_name("config.schedule.name", schedule.name, SCHEDULES)
  if not (schedule.decay_factor > 0 and math.isfinite(schedule.decay_factor)):
    raise InputError(f"config.schedule.decay_factor={schedule.decay_factor} must be > 0 (the rate is multiplied "
                     "by it at each boundary); e.g. 0.1")
  if any(not b >= 0 for b in schedule.boundaries_epochs):
    raise InputError(f"config.schedule.boundaries_epochs={tuple(schedule.boundaries_epochs)} must be epochs >= 0")


def check_dataset(config) -> None:
  """A dataset tfds or cnnjax can build, or "synthetic"; mean/std per channel; a crop that has an output size and
  valid ranges."""
  ds = config.dataset
  base_name = ds.name.split(":")[0].split("/")[0]  # "name/config:version" as tfds.builder takes it
  if base_name == "synthetic":
    check_synthetic(ds)  # without tfds: the scaling study's process never imports TensorFlow
  else:
    from cnnjax.data.sources import known_datasets
    known = known_datasets()
    if base_name not in known:
      raise unknown_name("config.dataset.name", ds.name, known, list_known=False)
  if len(ds.mean) != len(ds.std) or not ds.mean:
    raise InputError(f"config.dataset.mean={tuple(ds.mean)} and config.dataset.std={tuple(ds.std)} need one "
                     "value per image channel each")
  if any(not s > 0 for s in ds.std):
    raise InputError(f"config.dataset.std={tuple(ds.std)} must be > 0 per channel (images are divided by it)")
  if ds.eval_crop_fraction:
    if not 0 < ds.eval_crop_fraction <= 1:
      raise InputError(f"config.dataset.eval_crop_fraction={ds.eval_crop_fraction} must be 0 (resize the whole "
                       "image) or in (0, 1], e.g. 0.875 (shorter side 256, centre crop 224)")
    if ds.image_size <= 0 or base_name == "synthetic":
      raise InputError("config.dataset.eval_crop_fraction needs stored images and config.dataset.image_size > 0 "
                       "(the centre crop's size, e.g. 224); set it to 0 otherwise")
  if ds.objects_key:
    from cnnjax.data.pipeline import check_detection
    check_detection(ds)
  if ds.random_resized_crop:
    if ds.image_size <= 0:
      raise InputError("config.dataset.random_resized_crop needs config.dataset.image_size > 0 (the crop's output "
                       "size, e.g. 224)")
    low, high = ds.crop_area_range
    if not 0 < low <= high <= 1:
      raise InputError(f"config.dataset.crop_area_range={(low, high)} must satisfy 0 < low <= high <= 1")
    low, high = ds.crop_aspect_ratio_range
    if not 0 < low <= high:
      raise InputError(f"config.dataset.crop_aspect_ratio_range={(low, high)} must satisfy 0 < low <= high")


def check_synthetic(ds) -> None:
  """cnnjax.data.synthetic: the plain name, a square size to draw, and no tf.data crop (nothing is decoded)."""
  from cnnjax.data import synthetic
  if ds.name != synthetic.NAME:
    raise InputError(f"config.dataset.name={ds.name!r}: synthetic data has no configs or versions; use "
                     f"'{synthetic.NAME}'")
  if not ds.image_size > 0:
    raise InputError(f"config.dataset.name='{synthetic.NAME}' needs config.dataset.image_size > 0 (the side of its "
                     "square images, e.g. --config.dataset.image_size=28); config.dataset.mean gives the channels")
  if ds.random_resized_crop:
    raise InputError("config.dataset.random_resized_crop crops stored images in tf.data; synthetic images are drawn "
                     "at config.dataset.image_size already: set it to False")


def check_task_and_policy(config) -> None:
  from cnnjax.parallel.data_parallel import BATCH_NORM_STATS
  from cnnjax.train.tasks import TASKS
  if config.task not in TASKS:
    raise unknown_name("config.task", config.task, TASKS)
  if config.batch_norm_stats not in BATCH_NORM_STATS:
    raise unknown_name("config.batch_norm_stats", config.batch_norm_stats, BATCH_NORM_STATS)
  from cnnjax.fast.blocks import MODES
  if config.fast_paths not in MODES:
    raise unknown_name("config.fast_paths", config.fast_paths, MODES)


def check_detection(config) -> None:
  """config.task="detection" reads boxes (dataset.objects_key) with a known method; R-CNN reads proposals of a
  selective-search mode and takes no augmentation (the proposals are fixed per stored image)."""
  from cnnjax.data.proposals import MODES
  from cnnjax.train.detection import OBJECTIVES
  ds = config.dataset
  if ds.proposals and ds.proposals not in MODES:
    raise unknown_name("config.dataset.proposals", ds.proposals, MODES)
  if config.task != "detection":
    return
  if config.detection.method not in OBJECTIVES:
    raise unknown_name("config.detection.method", config.detection.method, OBJECTIVES)
  if not ds.objects_key:
    raise InputError("config.task='detection' needs boxes: set config.dataset.objects_key (e.g. 'objects')")
  if not 0 <= config.detection.nms_iou <= 1:
    raise InputError(f"config.detection.nms_iou={config.detection.nms_iou} must lie in [0, 1]")
  if config.detection.method == "rcnn":
    if not ds.proposals:
      raise InputError("config.detection.method='rcnn' classifies region proposals: set config.dataset.proposals "
                       f"to one of {MODES}")
    if config.augment.keys():
      given = ", ".join(f"config.augment.{name}" for name in sorted(config.augment.keys()))
      raise InputError(f"{given}: R-CNN's proposals are fixed per stored image, so an augmentation would move the "
                       "pixels away from them; drop it")


def check_model(config) -> None:
  """A registered model; config.model_kwargs naming its fields (cnnjax.train.config_options), dtypes by a name
  JAX knows; and the module builds with them (building computes nothing)."""
  from cnnjax.models import MODELS
  from cnnjax.train import config_options
  if config.model not in MODELS:
    raise unknown_name("config.model", config.model, MODELS)
  options = config_options.model_options(config.model)
  blocks = config_options.model_building_blocks(config.model)
  for key in config.model_kwargs.keys():
    if key == "num_classes":
      raise InputError("config.model_kwargs.num_classes: the class count is config.dataset.num_classes; set that")
    if key not in options and key not in blocks:
      raise config_options.unknown("config.model_kwargs", key, options, f"an option of {config.model}")
  for key in config_options.model_dtype_options(config.model):
    if key in config.model_kwargs:
      check_dtype(f"config.model_kwargs.{key}", config.model_kwargs[key])
  kwargs = config.model_kwargs.to_dict()
  try:
    MODELS[config.model](num_classes=config.dataset.num_classes, **kwargs)
  except (TypeError, ValueError) as e:
    raise InputError(f"config.model_kwargs={kwargs} do not fit {config.model} ({e}); remove or rename the "
                     "keyword") from e


def check_dtype(field: str, value) -> None:
  """A dtype name (or dtype) JAX computes in: float32, bfloat16, float16."""
  import jax.numpy as jnp
  try:
    ok = jnp.issubdtype(jnp.dtype(value), jnp.floating)
  except TypeError:
    ok = False
  if not ok:
    raise InputError(f"{field}={value!r} is not a floating-point dtype; use float32, bfloat16 or float16")


def check_augment(config) -> None:
  """Known augmentation names, each given only keywords its function takes."""
  from cnnjax.train import config_options
  for name, kwargs in config.augment.items():
    if name not in config_options.augment_names():
      raise config_options.unknown("config.augment", name, config_options.augment_names(), "an augmentation")
    if not hasattr(kwargs, "keys"):
      raise InputError(f"config.augment.{name}={kwargs!r} must be a dict of its keywords, e.g. {{}} for the defaults")
    accepted = config_options.augment_options(name)
    for key in kwargs.keys():
      if key not in accepted:
        raise config_options.unknown(f"config.augment.{name}", key, accepted, f"a keyword of {name}")
    if config.dataset.objects_key:
      from cnnjax.data.augment import check_box_aware
      check_box_aware(name)


def check_fine_tuning(config) -> None:
  """config.init_from exists, config.init_from_convert is a known conversion, config.freeze holds regexes."""
  import re
  from pathlib import Path
  from cnnjax.weights.convolutionalize import CONVERSIONS
  if config.init_from and not Path(config.init_from).exists():
    raise InputError(f"config.init_from={config.init_from!r} does not exist; give a weights directory or a run's "
                     "workdir (or '' to start from the model's initialisation)")
  if config.init_from_convert not in CONVERSIONS:
    raise InputError(f"config.init_from_convert={config.init_from_convert!r} is unknown; use one of "
                     f"{', '.join(repr(k) for k in CONVERSIONS)}")
  if config.init_from_convert and not config.init_from:
    raise InputError(f"config.init_from_convert={config.init_from_convert!r} converts config.init_from, which is "
                     "empty; set config.init_from or remove the conversion")
  freeze = config.freeze
  if isinstance(freeze, str) or not all(isinstance(p, str) for p in freeze):
    raise InputError(f"config.freeze={freeze!r} must be a tuple of regexes over parameter paths, "
                     "e.g. ('^backbone/',)")
  for pattern in freeze:
    try:
      re.compile(pattern)
    except re.error as e:
      raise InputError(f"config.freeze pattern {pattern!r} is not a regular expression ({e}); fix it") from e
  if freeze:
    from cnnjax.train import optim
    optim.freeze_labels(_abstract_params(config), tuple(freeze))  # refuses a pattern that matches nothing


def _abstract_params(config):
  """The shapes of config.model's parameters on its registry input (jax.eval_shape: nothing is computed);
  the paths are those of any input size."""
  import jax
  import jax.numpy as jnp
  from cnnjax.models import get_model, input_spec
  model = get_model(config.model, num_classes=config.dataset.num_classes, **config.model_kwargs)
  x = jax.ShapeDtypeStruct((1, *input_spec(config.model).shape), jnp.float32)
  return jax.eval_shape(lambda x: model.init({"params": jax.random.key(0), "dropout": jax.random.key(0)}, x,
                                             train=False), x)["params"]
