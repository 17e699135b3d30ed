"""Each process reads a disjoint shard, and the shards together cover the split (real Fashion-MNIST test split)."""

import numpy as np
import pytest

pytest.importorskip("tensorflow_datasets")

from cnnjax.data import pipeline  # noqa: E402
from cnnjax.train.config import default_config  # noqa: E402


def _ds_config(split="test"):
  config = default_config().dataset
  config.train_split = split
  config.cache = False
  return config


def _eval_images(config, shard):
  data = pipeline.make_eval_iterator(config, "test", 2000, shard)
  batches = list(data.iterator)
  assert len(batches) == data.num_batches
  images = np.concatenate([b["image"][b["mask"] > 0] for b in batches])
  assert len(images) == data.num_examples
  return images


def test_evaluation_shards_of_two_processes_are_disjoint_and_cover_the_split():
  config = _ds_config()
  full = _eval_images(config, pipeline.Shard(0, 1))
  shards = [_eval_images(config, pipeline.Shard(i, 2)) for i in range(2)]
  assert len(full) == 10000 and [len(s) for s in shards] == [5000, 5000]
  # In order: shard 0 is rows [0, 5000) and shard 1 rows [5000, 10000) of the split, so no row is read twice.
  np.testing.assert_array_equal(shards[0], full[:5000])
  np.testing.assert_array_equal(shards[1], full[5000:])


def test_training_shards_are_equal_disjoint_slices_dropping_less_than_one_example_per_process():
  config = _ds_config("test")
  full = np.concatenate([b["image"] for b in pipeline.make_eval_iterator(config, "test", 2000).iterator])
  shards = []
  for i in range(3):
    data = pipeline.make_train_data(config, 100, seed=0, shard=pipeline.Shard(i, 3))
    shards.append(np.concatenate([b["image"] for b in pipeline.tfds.as_numpy(data.dataset.batch(5000))]))
  assert [len(s) for s in shards] == [3333] * 3  # 10000 = 3 x 3333 + 1 dropped, so all take equal steps
  for i, shard in enumerate(shards):
    np.testing.assert_array_equal(shard.astype(np.float32), _raw(full)[i * 3333:(i + 1) * 3333])


def _raw(normalised):
  """Undoes the pipeline's normalisation back to 0..255 pixel values."""
  config = default_config().dataset
  return np.round((normalised * np.asarray(config.std) + np.asarray(config.mean)) * 255.0).astype(np.float32)
