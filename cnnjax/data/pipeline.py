"""tf.data pipelines: per-process shard, cache, seeded shuffle, batch, normalise, prefetch.

Training order is a pure function of (seed, epoch), so a run resumed at step s sees exactly
the batches an uninterrupted run would. Evaluation pads the last batch and masks it, so
every example of the split counts exactly once, on every process. The dataset named "synthetic"
(cnnjax.data.synthetic: numpy draws, no tfds) is served through the same two entry points.
"""

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cnnjax.data import proposals, sources, synthetic
from cnnjax.errors import InputError

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Shard:
  """Which part of the data this process reads."""

  index: int = 0
  count: int = 1


def _process_split(split: str, shard: Shard, drop_remainder: bool) -> str:
  if shard.count == 1:
    return split
  return tfds.even_splits(split, n=shard.count, drop_remainder=drop_remainder)[shard.index]


def split_sizes(builder, split: str, shard_count: int, drop_remainder: bool) -> list[int]:
  """Number of examples each process reads from `split`."""
  subsplits = [split] if shard_count == 1 else tfds.even_splits(split, n=shard_count, drop_remainder=drop_remainder)
  return [_num_examples(builder, s) for s in subsplits]


def _num_examples(builder, split) -> int:
  """Size of a (sub)split from the dataset info, or by counting when there is none (tfds mock data)."""
  if builder.info.splits:
    return builder.info.splits[split].num_examples
  ds = builder.as_dataset(split=split)
  size = int(ds.cardinality())
  return size if size >= 0 else int(ds.reduce(0, lambda n, _: n + 1))


def resize_image(image, size: int | tuple[int, int]):
  """uint8 [H, W, C] -> uint8 [size, size, C] (or [*size, C]): antialiased bilinear, rounded. The resize of
  config.dataset.image_size, shared with cnnjax.serving so a served image is scaled as training's were."""
  image = tf.image.resize(image, (size, size) if isinstance(size, int) else tuple(size), antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


TOO_MANY_OBJECTS = "cnnjax: more objects than config.dataset.max_objects"


def check_detection(ds_config) -> None:
  """Detection (config.dataset.objects_key set) needs whole images: crops would cut boxes, so they are refused."""
  if not ds_config.get("objects_key"):
    return
  if ds_config.get("max_objects", 0) < 1:
    raise InputError(f"config.dataset.max_objects={ds_config.get('max_objects')} must be >= 1 (boxes per image "
                     "after padding), e.g. 4 for fashion_scenes")
  for field in ("random_resized_crop", "eval_crop_fraction"):
    if ds_config.get(field):
      raise InputError(f"config.dataset.{field} crops images but does not move boxes; detection "
                       f"(config.dataset.objects_key={ds_config.objects_key!r}) needs it off (False / 0)")


def _boxes_label(objects, max_objects: int, height, width):
  """tfds objects {bbox: [n, 4] normalised (ymin, xmin, ymax, xmax), label: [n]} -> {"boxes": float32 [M, 4]
  as (x0, y0, x1, y1) in pixels of a height x width image, "classes": int32 [M], -1 past the n objects}."""
  bbox = tf.cast(objects["bbox"], tf.float32)
  labels = tf.cast(objects["label"], tf.int32)
  count = tf.maximum(tf.shape(bbox)[0], tf.shape(labels)[0])
  check = tf.debugging.assert_less_equal(count, max_objects, message=TOO_MANY_OBJECTS)
  with tf.control_dependencies([check]):  # the pads below fail on more objects: the check must come first
    scale = tf.cast(tf.stack([width, height, width, height]), tf.float32)
    boxes = tf.gather(bbox, [1, 0, 3, 2], axis=1) * scale
    boxes = tf.pad(boxes, [[0, max_objects - tf.shape(bbox)[0]], [0, 0]])
    classes = tf.pad(labels, [[0, max_objects - tf.shape(labels)[0]]], constant_values=-1)
  boxes = tf.ensure_shape(boxes, (max_objects, 4))
  return {"boxes": boxes, "classes": tf.ensure_shape(classes, (max_objects,))}


def _reraise_too_many_objects(batches: Iterator[Batch], ds_config) -> Iterator[Batch]:
  """tf.data's failed assertion in _boxes_label becomes the one-line InputError naming the field."""
  try:
    yield from batches
  except tf.errors.InvalidArgumentError as e:
    if TOO_MANY_OBJECTS not in str(e):
      raise
    raise InputError(f"{ds_config.name} has an image with more than config.dataset.max_objects="
                     f"{ds_config.max_objects} objects; raise config.dataset.max_objects") from None


def _decode_fn(ds_config, train: bool = False):
  """Maps a tfds example to {"image": uint8 [H, W, C], "label": int32 [] or dense [H, W] or boxes}.

  A dense label (a segmentation mask [H, W, 1]) loses its channel axis and is resized with
  nearest neighbours, so it stays aligned with the image and keeps its class values.
  With config.dataset.objects_key the label is {"boxes": float32 [M, 4] (x0, y0, x1, y1) in pixels of the
  decoded image, "classes": int32 [M], -1 where there is no object}, M = config.dataset.max_objects.
  Training images that get a random-resized-crop later keep their stored size here.
  """
  objects_key = ds_config.get("objects_key")
  if objects_key:
    check_detection(ds_config)
    return _detection_decode_fn(ds_config, objects_key)
  size = ds_config.get("image_size")
  if train and ds_config.get("random_resized_crop", False):
    size = 0
  crop_fraction = 0.0 if train else ds_config.get("eval_crop_fraction", 0.0)

  def decode(example):
    image = example[ds_config.image_key]
    label = example[ds_config.label_key]
    if size and crop_fraction:
      shorter = eval_resize_size(size, crop_fraction)
      image = resize_shorter_and_center_crop(image, shorter, size)
      if label.shape.rank == 3:
        label = resize_shorter_and_center_crop(label, shorter, size, method="nearest")
    elif size:
      image = resize_image(image, size)
      if label.shape.rank == 3:
        label = tf.image.resize(label, (size, size), method="nearest")
    if label.shape.rank == 3:
      label = label[..., 0]
    return {"image": image, "label": tf.cast(label, tf.int32)}

  return decode


def _detection_decode_fn(ds_config, objects_key: str):
  """The detection decode: the image (resized to image_size if set) and its boxes in its pixels."""
  size = ds_config.get("image_size")

  def decode(example):
    image = example[ds_config.image_key]
    stored = tf.cast(tf.shape(image)[:2], tf.float32)
    if size:
      image = resize_image(image, size)
    shape = tf.shape(image)
    decoded = {"image": image,
               "label": _boxes_label(example[objects_key], ds_config.max_objects, shape[0], shape[1])}
    if "proposals" in example:  # pixels of the stored image -> of the decoded one
      scale = tf.cast(shape[:2], tf.float32) / stored
      decoded["proposals"] = example["proposals"] * tf.stack([scale[1], scale[0], scale[1], scale[0]])
    return decoded

  return decode


def eval_resize_size(crop: int, crop_fraction: float) -> int:
  """The shorter side to resize to before a centre crop of `crop` covering `crop_fraction` of it:
  224 / 0.875 = 256, as torchvision's and timm's ImageNet evaluation (timm: floor(crop / crop_pct))."""
  return int(math.floor(crop / crop_fraction))


def resize_shorter_and_center_crop(image, shorter: int, crop: int, method: str = "bilinear"):
  """ImageNet-style evaluation view: resize (antialiased) so the shorter side is `shorter`, keeping the
  aspect ratio, then take the centre crop x crop.

  Sizes and offsets follow torchvision's Resize(shorter) + CenterCrop(crop): the longer side is
  int(shorter * long / short), the offset round((side - crop) / 2), half to even. [H, W, C] -> [crop, crop, C],
  uint8 images stay uint8.
  """
  dtype = image.dtype
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  short = tf.minimum(height, width)
  scale = lambda side: tf.where(side == short, shorter, (shorter * side) // short)
  new_height, new_width = scale(height), scale(width)
  resized = tf.image.resize(image, tf.stack([new_height, new_width]), method=method, antialias=method != "nearest")
  top = tf.cast(tf.round(tf.cast(new_height - crop, tf.float32) / 2), tf.int32)
  left = tf.cast(tf.round(tf.cast(new_width - crop, tf.float32) / 2), tf.int32)
  cropped = resized[top:top + crop, left:left + crop]
  if dtype.is_integer:
    cropped = tf.cast(tf.clip_by_value(tf.round(cropped), dtype.min, dtype.max), dtype)
  return tf.ensure_shape(cropped, (crop, crop, image.shape[-1]))


def _normalise_fn(ds_config):
  """(x - mean) / std per channel; integer images are first scaled to [0, 1], float features are taken as stored."""
  mean = tf.constant(ds_config.mean, tf.float32)
  std = tf.constant(ds_config.std, tf.float32)

  def normalise(batch):
    image = batch["image"]
    image = tf.cast(image, tf.float32) / 255.0 if image.dtype.is_integer else tf.cast(image, tf.float32)
    return {**batch, "image": (image - mean) / std}

  return normalise


def random_resized_crop(image, seed, size: int, area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)):
  """A random crop covering `area_range` of the image with an aspect ratio in `aspect_ratio_range`,
  resized to size x size (Szegedy et al. 2015's Inception augmentation; torchvision's RandomResizedCrop).

  Stateless: the crop is a function of `seed` (int64 [2]). Falls back to the whole image after 10 failed
  draws. [H, W, C] uint8 -> [size, size, C] uint8.
  """
  whole = tf.constant([[[0.0, 0.0, 1.0, 1.0]]], tf.float32)
  begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), whole, seed=seed, min_object_covered=0.0, aspect_ratio_range=list(aspect_ratio_range),
      area_range=list(area_range), max_attempts=10, use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, extent)
  crop = tf.image.resize(crop, (size, size), antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), tf.uint8)


def _train_crop_fn(ds_config):
  """The per-example training crop of the config (seeded by (epoch seed, position)), or None."""
  if not ds_config.get("random_resized_crop", False):
    return None
  size = ds_config.get("image_size")
  if not size:
    raise InputError("config.dataset.random_resized_crop needs config.dataset.image_size > 0 (the crop's output "
                     "size, e.g. 224)")
  area, ratio = tuple(ds_config.crop_area_range), tuple(ds_config.crop_aspect_ratio_range)

  def crop(seed, example):
    return {**example, "image": random_resized_crop(example["image"], seed, size, area, ratio)}

  return crop


def _load(ds_config, split: str, shard: Shard, drop_remainder: bool, train: bool = False):
  tf.config.set_visible_devices([], "GPU")  # tf.data runs on the host; accelerators belong to JAX
  builder = sources.get_builder(ds_config.name, ds_config.get("data_dir"))
  if builder.info.splits and split.split("[")[0] not in builder.info.splits:
    raise InputError(f"config.dataset split {split!r} does not exist in {ds_config.name}; "
                     f"available splits: {sorted(builder.info.splits)}")
  process_split = _process_split(split, shard, drop_remainder)
  ds = builder.as_dataset(split=process_split, shuffle_files=False,
                          read_config=tfds.ReadConfig(shuffle_seed=0, interleave_cycle_length=1))
  if ds_config.get("proposals"):  # R-CNN's region proposals, joined to their images in the split's order
    boxes = proposals.split_proposals(builder, process_split, ds_config.proposals, ds_config.num_proposals,
                                      ds_config.image_key)
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(boxes))).map(
        lambda example, regions: {**example, "proposals": regions})
  options = tf.data.Options()
  options.deterministic = True
  # No autotuning model: destroying an iterator joins the model's optimisation thread, which sleeps for up to
  # its period (about a minute once an iterator has lived that long); training rebuilds its iterator every epoch,
  # so epoch ends stalled for 16-31 s with the CPU idle. Without it, AUTOTUNE map parallelism
  # is the core count and AUTOTUNE prefetch buffers grow on demand (tf.data's own fallbacks).
  options.autotune.enabled = False
  return builder, ds.with_options(options).map(_decode_fn(ds_config, train), num_parallel_calls=tf.data.AUTOTUNE)


def epoch_seed(seed: int, epoch: int) -> int:
  """Shuffle seed of one epoch: a pure function of (seed, epoch)."""
  return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@dataclasses.dataclass
class TrainData:
  """This process's training shard: its size, the epoch length in steps and the batches from any step."""

  dataset: tf.data.Dataset
  num_examples: int
  batch_size: int
  seed: int
  shuffle_buffer: int
  normalise: object
  input_shape: tuple[int, ...]
  crop: object = None
  detection: object = None  # the dataset config when batches carry boxes (their errors read as InputError)

  @property
  def steps_per_epoch(self) -> int:
    return self.num_examples // self.batch_size

  def batches(self, start_step: int = 0) -> Iterator[Batch]:
    """Endless per-process batches from global step `start_step` on, epoch after epoch."""
    if self.detection is not None:
      return _reraise_too_many_objects(self._batches(start_step), self.detection)
    return self._batches(start_step)

  def _batches(self, start_step: int) -> Iterator[Batch]:
    epoch, skip = divmod(start_step, self.steps_per_epoch)
    while True:
      shuffle_seed = epoch_seed(self.seed, epoch)
      epoch_ds = self.dataset.shuffle(self.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
      if self.crop is not None:
        epoch_ds = epoch_ds.enumerate().map(
            lambda i, ex, s=shuffle_seed: self.crop(tf.stack([tf.constant(s, tf.int64), i]), ex),
            num_parallel_calls=tf.data.AUTOTUNE)
      epoch_ds = (epoch_ds.batch(self.batch_size, drop_remainder=True).skip(skip)
                  .map(self.normalise, num_parallel_calls=tf.data.AUTOTUNE)
                  .prefetch(tf.data.AUTOTUNE))
      yield from tfds.as_numpy(epoch_ds)
      epoch, skip = epoch + 1, 0


def make_train_data(ds_config, batch_size: int, seed: int, shard: Shard = Shard()) -> TrainData:
  """Training data of this process: an equal-sized disjoint shard, so all processes take equal steps."""
  if ds_config.name == synthetic.NAME:
    return synthetic.make_train_data(ds_config, batch_size, seed, shard.index, shard.count)
  crop = _train_crop_fn(ds_config)
  builder, ds = _load(ds_config, ds_config.train_split, shard, drop_remainder=True, train=True)
  num_examples = split_sizes(builder, ds_config.train_split, shard.count, True)[shard.index]
  if num_examples < batch_size:
    raise InputError(f"config.batch_size gives {batch_size} examples per process but this process's "
                     f"shard of {ds_config.train_split!r} has only {num_examples}; lower config.batch_size")
  if ds_config.get("cache", True):
    ds = ds.cache()
  buffer = min(ds_config.get("shuffle_buffer") or num_examples, num_examples)
  return TrainData(ds, num_examples, batch_size, seed, buffer, _normalise_fn(ds_config),
                   input_shape(builder, ds_config), crop, ds_config if ds_config.get("objects_key") else None)


def input_shape(builder, ds_config) -> tuple[int, ...]:
  """[H, W, C] of the images the model sees (after the optional resize)."""
  shape = tuple(builder.info.features[ds_config.image_key].shape)
  size = ds_config.get("image_size")
  return (size, size, shape[-1]) if size else shape


@dataclasses.dataclass
class EvalData:
  """Padded per-process batches with a "mask" (1 real, 0 padding); same count on every process."""

  iterator: Iterator[Batch]
  num_batches: int
  num_examples: int


# Fill of padded rows per key, anywhere in a batch; others get 0. Box classes: -1 is "no object" (0 a class).
PAD_VALUES = {"classes": -1}


def _map_arrays(fn, tree, key=None):
  """fn(key, array) on each array of a nested dict of arrays (key: the array's own name)."""
  if isinstance(tree, dict):
    return {k: _map_arrays(fn, v, k) for k, v in tree.items()}
  return fn(key, tree)


def pad_batch(batch: Batch, batch_size: int) -> Batch:
  """Pads every array of `batch` (nested dicts too) to `batch_size` rows, with zeros or PAD_VALUES[key], and adds
  the validity mask."""
  n = len(batch["image"]) if "image" in batch else len(next(iter(batch.values())))
  pad = lambda key, v: np.concatenate([v, np.full((batch_size - n, *v.shape[1:]), PAD_VALUES.get(key, 0), v.dtype)])
  padded = _map_arrays(pad, batch)
  padded["mask"] = (np.arange(batch_size) < n).astype(np.float32)
  return padded


def make_eval_iterator(ds_config, split: str, batch_size: int, shard: Shard = Shard()) -> EvalData:
  """All examples of this process's shard of `split`, in order, padded to full batches."""
  if ds_config.name == synthetic.NAME:
    part = synthetic.EvalSplit(ds_config, batch_size, shard.index, shard.count)
    return EvalData((pad_batch(b, batch_size) for b in part.batches()), part.num_batches, part.num_examples)
  builder, ds = _load(ds_config, split, shard, drop_remainder=False)
  sizes = split_sizes(builder, split, shard.count, False)
  num_batches = math.ceil(max(sizes) / batch_size)
  ds = ds.batch(batch_size).map(_normalise_fn(ds_config)).prefetch(tf.data.AUTOTUNE)

  def batches() -> Iterator[Batch]:
    template = None
    count = 0
    for batch in tfds.as_numpy(ds):
      template = batch
      count += 1
      yield pad_batch(batch, batch_size)
    for _ in range(num_batches - count):  # processes with smaller shards send empty batches
      empty = _map_arrays(lambda _, v: v[:0], template)
      yield pad_batch(empty, batch_size)

  iterator = batches()
  if ds_config.get("objects_key"):
    iterator = _reraise_too_many_objects(iterator, ds_config)
  return EvalData(iterator, num_batches, sizes[shard.index])
