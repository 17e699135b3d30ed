"""The schema every experiment config fills in, and the helpers that read durations from it.

Config files in configs/ start from `default_config()`, change what they need and return
the locked result, so an override of a key that does not exist is an error.
"""

import json
import math

import ml_collections
from ml_collections import config_dict

from cnnjax.errors import InputError, unknown_name
from cnnjax.train import config_checks, config_options


def default_config() -> ml_collections.ConfigDict:
  """All keys the runner reads, with neutral defaults; see configs/ for real experiments."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = "classification"
  c.model = "lenet5"
  # The experiment's choices of the model's fields (cnnjax.train.config_options.model_options); the rest keep
  # the model's defaults. Any field can be set from the command line: --config.model_kwargs.dtype=bfloat16.
  c.model_kwargs = ml_collections.ConfigDict()
  # Classification with auxiliary classifiers (googlenet with model_kwargs.aux_logits=True): each auxiliary
  # cross-entropy enters the training loss times this weight (0.3, Szegedy et al. 2015); 0 turns them off.
  c.aux_loss_weight = 0.3
  # Classification training loss against smoothed targets (1 - a) one_hot + a / num_classes (Szegedy et al. 2016);
  # 0 is plain cross-entropy. Evaluation loss and accuracy stay plain.
  c.label_smoothing = 0.0
  # > 0: an exponential moving average of the parameters and batch statistics, kept in the train state and
  # checkpoints, updated after every step with decay min(ema_decay, (1 + n) / (10 + n)) at update n (a warm-up, as
  # TensorFlow's ExponentialMovingAverage), and evaluated instead of the raw weights. 0: off.
  c.ema_decay = 0.0
  # Classification evaluation averages the logits of each image and its left-right mirror (airbench's flip TTA).
  c.eval_flip_tta = False

  # config.task="detection" (cnnjax.train.detection): the detector's objective and decoding. method: "centernet"
  # (a dense single-stage detector) or "rcnn" (classified region proposals, config.dataset.proposals);
  # max_detections per image (COCO's 100); nms_iou: R-CNN's class-wise NMS threshold (the paper's 0.3).
  c.detection = ml_collections.ConfigDict()
  c.detection.method = "centernet"
  c.detection.max_detections = 100
  c.detection.nms_iou = 0.3
  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "fashion_mnist"  # tfds or cnnjax.data.sources name, or "synthetic" (cnnjax.data.synthetic)
  c.dataset.data_dir = config_dict.placeholder(str)
  c.dataset.train_split = "train"
  c.dataset.eval_split = "test"
  c.dataset.image_key = "image"
  c.dataset.label_key = "label"
  c.dataset.num_classes = 10
  c.dataset.image_size = 0          # 0: keep the stored size; else resize to image_size x image_size
  c.dataset.mean = (0.2860,)        # per-channel, on images scaled to [0, 1]
  c.dataset.std = (0.3530,)
  c.dataset.shuffle_buffer = 0      # 0: the whole split
  c.dataset.cache = True
  # Training images only: Inception-style random-resized-crop to image_size x image_size in tf.data
  # (a random area fraction and aspect ratio of the variable-size image), as for ImageNet.
  c.dataset.random_resized_crop = False
  c.dataset.crop_area_range = (0.08, 1.0)
  c.dataset.crop_aspect_ratio_range = (3 / 4, 4 / 3)
  # Evaluation images only: 0 resizes the whole image to image_size x image_size; a fraction f in (0, 1]
  # resizes the shorter side to floor(image_size / f) and takes the centre image_size crop (0.875: 256 -> 224,
  # torchvision's and timm's ImageNet evaluation). Needs image_size > 0.
  c.dataset.eval_crop_fraction = 0.0
  # Detection: the tfds feature holding {bbox, label} per object ("objects" for fashion_scenes, voc, coco); when set,
  # the label is {"boxes": [max_objects, 4] (x0, y0, x1, y1) in pixels, "classes": [max_objects], -1 = none}.
  c.dataset.objects_key = ""
  c.dataset.max_objects = 4         # boxes per image after padding; an image with more is an error
  # R-CNN's region proposals (cnnjax.data.proposals): "" none, or a selective-search mode ("single", "fast",
  # "quality"), computed once per split and kept beside the dataset; the first num_proposals per image.
  c.dataset.proposals = ""
  c.dataset.num_proposals = 128

  # Augmentations inside the step: name (cnnjax.data.augment.AUGMENTATIONS) -> its keywords, {} for the defaults;
  # applied in the order of their names. Command line: --config.augment.flip chooses one,
  # --config.augment.crop.padding=4 chooses and sets, --noconfig.augment.flip drops one.
  c.augment = ml_collections.ConfigDict()

  c.batch_size = 128                # global, over all devices and processes
  c.batch_norm_stats = "global"     # "global": over the global batch; "per_device": each device's shard
  c.eval_batch_size = 1000
  c.num_epochs = 10.0
  c.num_train_steps = -1            # > 0 overrides num_epochs

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.learning_rate = 0.05
  c.optimizer.scale_by_batch = False  # linear scaling rule: lr = learning_rate * batch_size / 256
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 5e-4
  c.optimizer.weight_decay_mode = "l2"  # "l2": wd/2 sum w^2 in the loss; "decoupled": outside momentum

  c.schedule = ml_collections.ConfigDict()
  c.schedule.name = "cosine"        # constant | multistep | cosine | linear (to 0 at the end)
  c.schedule.warmup_epochs = 0.0
  c.schedule.boundaries_epochs = (30.0, 60.0, 80.0)
  c.schedule.decay_factor = 0.1

  c.log_every_steps = 100
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.resume_from_step = -1           # -1: the newest good checkpoint; 0: start afresh; N: checkpoint N
  c.eval_every_epochs = 1.0         # 0: evaluate only at the end
  c.progress_bar = True
  # "auto": the platform's fast blocks (cnnjax.fast.blocks: oneDNN convolutions on one CPU, fused
  # BN + ReLU), recorded in results.json; "off": the models' plain flax blocks. Same variables either way.
  c.fast_paths = "auto"
  # XLA CPU multi-output fusion (set by `cnnjax train` before JAX starts; cnnjax/fast/process.py): faster
  # steps for narrow residual nets (ResNet-20), slower for wider ones (VGG, FCN); benchmarks/cpu_step.py.
  c.xla_cpu_multi_output_fusion = False
  # Resuming a workdir whose config.json differs in a key that changes the run (model, data, optimizer,
  # schedule, length, seed, augmentation; cnnjax.train.run_config) is refused unless this is True; the
  # change is then recorded in the workdir's config_changes.jsonl.
  c.allow_config_change = False

  # Fine-tuning (cnnjax.train.init_from), at a fresh start only: a weights directory or a run's workdir whose
  # variables replace the fresh ones where path and shape match (others keep their initialisation, reported
  # in the log and results.json); init_from_convert names a conversion of the source's variables first
  # (cnnjax.weights.convolutionalize.CONVERSIONS, e.g. "classifier_to_fcn": a VGG classifier into FCN's
  # backbone/, fc6, fc7, score_fr). freeze: regexes over "/"-joined parameter paths ("backbone/conv1_1/kernel")
  # whose parameters get no update (cnnjax.train.optim.with_frozen).
  c.init_from = ""
  c.init_from_convert = ""
  c.freeze = ()
  return c


def total_train_steps(config, steps_per_epoch: int) -> int:
  """The run's length in steps, from num_train_steps if set, else from num_epochs."""
  if config.num_train_steps > 0:
    return int(config.num_train_steps)
  if config.num_epochs <= 0:
    raise InputError("set config.num_epochs > 0 or config.num_train_steps > 0")
  return int(math.ceil(config.num_epochs * steps_per_epoch))


def check_config(config) -> None:
  """Refuses, with an InputError naming the field and the fix, keys the runner does not know and values it
  cannot run (cnnjax.train.config_checks); cheap, and called before any work."""
  defaults = default_config()
  _check_keys(config, defaults, "config")
  config_checks.check_values(config, defaults)


def _check_keys(given, schema, path):
  import difflib
  free = {"model_kwargs", "augment"}  # their keys belong to the chosen model / augmentations
  for key in given.keys():
    if key not in schema:
      close = difflib.get_close_matches(key, list(schema.keys()), n=3)
      hint = f"; did you mean {', '.join(f'{path}.{c}' for c in close)}?" if close else ""
      raise InputError(f"unknown config key {path}.{key}{hint}")
    if key not in free and isinstance(schema[key], ml_collections.ConfigDict):
      _check_keys(given[key], schema[key], f"{path}.{key}")


def set_dotted(config, key: str, value) -> None:
  """config.a.b = value for key "a.b" (on an unlocked config, or a key the locked one has)."""
  *parents, leaf = key.split(".")
  node = config
  for part in parents:
    node = node[part]
  node[leaf] = value


def apply_preset(config, presets: dict[str, dict], preset: str | None) -> None:
  """Sets the dotted keys of each named preset on `config`, in order: a config file's `get_config(preset)`.

  `--config=configs/cifar10_resnet20.py:resnet56` passes "resnet56" to get_config; "resnet56,stem2" applies
  two. None or "" applies none; an unknown name is an InputError with close matches and the known names.
  """
  for name in (preset or "").split(","):
    if not name:
      continue
    if name not in presets:
      raise unknown_name("preset", name, presets)
    for key, value in presets[name].items():
      set_dotted(config, key, value)


class _Absent:
  """A key one side of a comparison lacks."""

  def __repr__(self):
    return "(absent)"


ABSENT = _Absent()


def config_differences(stored: dict, config) -> list[tuple[str, object, object]]:
  """(dotted key, stored value, given value) for each key where a run's stored config.json and `config` differ.

  Values are compared as JSON (tuples as lists); ABSENT marks a key one side lacks. A key the stored run lacks
  (added to the schema since) whose given value is its default (default_config()) is no difference, so a
  run stored by an older cnnjax still counts as the same experiment. In model_kwargs (for the same model) and in
  an augmentation's keywords a key one side leaves out is its default: leaving it out and giving the default
  are the same run.
  """
  given = json.loads(config.to_json_best_effort())
  defaults = json.loads(default_config().to_json_best_effort())
  found = []
  _differences(stored, given, defaults, "", found, (stored, given))
  return found


def _option_defaults(section: str, stored: dict, given: dict) -> dict:
  """The defaults that a key left out of `section` (model_kwargs, augment.NAME) stands for, as JSON."""
  try:
    if section == "model_kwargs":
      if stored.get("model") != given.get("model"):
        return {}
      options = config_options.model_options(given["model"])
    else:
      options = config_options.augment_options(section.split(".", 1)[1])
  except (KeyError, TypeError, ValueError):  # an unknown model or augmentation: nothing stands in for it
    return {}
  return json.loads(json.dumps(options))


def _differences(stored, given, defaults, prefix: str, found: list, root: tuple[dict, dict]) -> None:
  for key in sorted(set(stored) | set(given)):
    path = prefix + key
    s, g = stored.get(key, ABSENT), given.get(key, ABSENT)
    default = defaults.get(key, ABSENT)
    if s is ABSENT and g == default:
      continue
    if isinstance(s, dict) and isinstance(g, dict):
      if path == "model_kwargs" or (path.startswith("augment.") and path.count(".") == 1):
        default = _option_defaults(path, *root)  # a key left out on either side is its default
        s, g = {**default, **s}, {**default, **g}
      _differences(s, g, default if isinstance(default, dict) else {}, path + ".", found, root)
    elif s != g:
      found.append((path, s, g))
