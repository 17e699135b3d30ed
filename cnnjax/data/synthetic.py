"""Synthetic data: random images and labels drawn with numpy, served as the dataset named "synthetic".

Why: timing and smoke runs of the real training need no download and no input pipeline (as flax's
fake-data benchmark reuses its train_and_evaluate), and the scaling study's process must not import
TensorFlow (its peak memory is compared with PyTorch's), so this module imports numpy only.

Selected by config.dataset.name = "synthetic". Images are [image_size, image_size, len(mean)]
standard-normal float32, already normalised (config.dataset.mean and std only give the channel
count); labels are uniform int32 in [0, num_classes). Every batch is `synthetic_batch` of a global
batch, of which each process takes its equal share of rows:

- training split (any name): TRAIN_EXAMPLES examples an epoch, batch k of every epoch drawn with
  seed config.seed + 1 + k, so the data is a pure function of (seed, step) and a resumed run sees
  the batches an uninterrupted one would. The scaling study times batch 0.
- evaluation (any split name): EVAL_EXAMPLES examples, global batch j drawn with seed EVAL_SEED + j
  (independent of config.seed); the last one holds the remainder, which cnnjax.data.pipeline pads.
"""

import dataclasses
from collections.abc import Iterator

import numpy as np

from cnnjax.errors import InputError

NAME = "synthetic"
TRAIN_EXAMPLES = 4096
EVAL_EXAMPLES = 512
EVAL_SEED = 2 ** 31  # far from the training batches' seeds (config.seed + 1 + k)

Batch = dict[str, np.ndarray]


def synthetic_batch(batch_size: int, input_shape, num_classes: int, seed: int) -> Batch:
  """A random batch from np.random.RandomState(seed): standard-normal float32 images, then uniform int32 labels.

  The same on every process and every platform. -> {"image": [batch_size, *input_shape], "label": [batch_size]}.
  """
  rs = np.random.RandomState(seed % 2 ** 32)
  return {"image": rs.standard_normal((batch_size, *input_shape)).astype(np.float32),
          "label": rs.randint(0, num_classes, batch_size).astype(np.int32)}


def process_rows(batch: Batch, rows: int, process_index: int) -> Batch:
  """Rows [process_index * rows, (process_index + 1) * rows) of every array of a global batch (fewer at its end)."""
  return {k: v[process_index * rows:(process_index + 1) * rows] for k, v in batch.items()}


def input_shape(ds_config) -> tuple[int, int, int]:
  """[H, W, C] of the images: config.dataset.image_size square, len(config.dataset.mean) channels."""
  size = ds_config.image_size
  if not size or size <= 0:
    raise InputError(f"config.dataset.name='{NAME}' needs config.dataset.image_size > 0 (the side of its square "
                     "images, e.g. 28)")
  return (int(size), int(size), len(ds_config.mean))


def dataset_fields(shape) -> dict:
  """The config.dataset fields that make the dataset synthetic images of `shape` [H, W, C] (H == W)."""
  height, width, channels = (int(v) for v in shape)
  if height != width or height < 1 or channels < 1:
    raise InputError(f"synthetic images are square with at least one channel (config.dataset.image_size); "
                     f"{height}x{width}x{channels} is not: give H == W >= 1 and C >= 1")
  return {"name": NAME, "image_size": height, "mean": (0.0,) * channels, "std": (1.0,) * channels,
          "random_resized_crop": False}


def train_batch(ds_config, global_batch: int, seed: int, step_in_epoch: int) -> Batch:
  """Global training batch `step_in_epoch` of every epoch (seed + 1 + step_in_epoch)."""
  return synthetic_batch(global_batch, input_shape(ds_config), ds_config.num_classes, seed + 1 + step_in_epoch)


@dataclasses.dataclass(frozen=True)
class TrainData:
  """This process's share of the synthetic training split, read like cnnjax.data.pipeline.TrainData."""

  ds_config: object
  batch_size: int  # per process
  seed: int
  process_index: int = 0
  process_count: int = 1

  @property
  def num_examples(self) -> int:
    return TRAIN_EXAMPLES // self.process_count

  @property
  def input_shape(self) -> tuple[int, int, int]:
    return input_shape(self.ds_config)

  @property
  def steps_per_epoch(self) -> int:
    return self.num_examples // self.batch_size

  def batches(self, start_step: int = 0) -> Iterator[Batch]:
    """Endless per-process batches from global step `start_step` on, epoch after epoch."""
    step = start_step
    while True:
      batch = train_batch(self.ds_config, self.batch_size * self.process_count, self.seed, step % self.steps_per_epoch)
      yield process_rows(batch, self.batch_size, self.process_index)
      step += 1


def make_train_data(ds_config, batch_size: int, seed: int, process_index: int = 0,
                    process_count: int = 1) -> TrainData:
  """The training split for `batch_size` examples per process; refuses a batch larger than the process's share."""
  data = TrainData(ds_config, batch_size, seed, process_index, process_count)
  input_shape(ds_config)  # refuses a missing image size now rather than at the first batch
  if data.num_examples < batch_size:
    raise InputError(f"config.batch_size gives {batch_size} examples per process but this process's share of the "
                     f"synthetic training split has only {data.num_examples} ({TRAIN_EXAMPLES} in all); lower "
                     "config.batch_size")
  return data


@dataclasses.dataclass(frozen=True)
class EvalSplit:
  """This process's share of the synthetic evaluation split: unpadded batches, the same count on every process."""

  ds_config: object
  batch_size: int  # per process
  process_index: int = 0
  process_count: int = 1

  @property
  def global_batch(self) -> int:
    return self.batch_size * self.process_count

  @property
  def num_batches(self) -> int:
    return -(-EVAL_EXAMPLES // self.global_batch)

  def _rows(self, j: int) -> int:
    real = min(self.global_batch, EVAL_EXAMPLES - j * self.global_batch)
    return min(self.batch_size, max(0, real - self.process_index * self.batch_size))

  @property
  def num_examples(self) -> int:
    return sum(self._rows(j) for j in range(self.num_batches))

  def batches(self) -> Iterator[Batch]:
    """Each global batch j (seed EVAL_SEED + j, only its real rows), this process's rows of it (maybe none)."""
    shape = input_shape(self.ds_config)
    for j in range(self.num_batches):
      real = min(self.global_batch, EVAL_EXAMPLES - j * self.global_batch)
      batch = synthetic_batch(real, shape, self.ds_config.num_classes, EVAL_SEED + j)
      yield process_rows(batch, self.batch_size, self.process_index)
