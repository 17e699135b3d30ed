"""tf.data pipeline: evaluation counts every example once; training order is a pure function of (seed, epoch)."""

import itertools

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnjax.data import pipeline
from cnnjax.train.config import default_config


def _cifar_dataset_config():
  config = default_config()
  config.dataset.name = "cifar10"
  config.dataset.mean = (0.5, 0.5, 0.5)
  config.dataset.std = (0.25, 0.25, 0.25)
  return config.dataset


def _rows(batch):
  """Bytes of each real (unmasked) image, to compare examples across batches."""
  keep = batch["mask"] > 0 if "mask" in batch else np.ones(len(batch["image"]), bool)
  return [img.tobytes() for img in batch["image"][keep]]


def test_eval_counts_every_example_exactly_once():
  ds_config = _cifar_dataset_config()
  with tfds.testing.mock_data(num_examples=37):
    data = pipeline.make_eval_iterator(ds_config, "test", batch_size=8)
    batches = list(data.iterator)
    reference = pipeline.make_train_data(ds_config, batch_size=37, seed=0)
    all_rows = _rows(next(reference.batches(0)))
  assert data.num_batches == 5 and len(batches) == 5
  assert all(b["image"].shape == (8, 32, 32, 3) for b in batches)
  assert sum(float(b["mask"].sum()) for b in batches) == 37
  seen = [row for b in batches for row in _rows(b)]
  assert sorted(seen) == sorted(all_rows)
  assert batches[-1]["mask"].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
  assert np.all(batches[-1]["image"][5:] == 0)


def test_pad_batch_masks_padding():
  batch = {"image": np.ones((3, 2, 2, 1), np.float32), "label": np.array([1, 2, 3])}
  padded = pipeline.pad_batch(batch, 5)
  assert padded["label"].tolist() == [1, 2, 3, 0, 0]
  assert padded["mask"].tolist() == [1, 1, 1, 0, 0]


def test_training_order_is_a_function_of_seed_and_epoch_and_resumes_exactly():
  ds_config = _cifar_dataset_config()
  with tfds.testing.mock_data(num_examples=40):
    data = pipeline.make_train_data(ds_config, batch_size=8, seed=3)
    assert data.steps_per_epoch == 5
    first = [_rows(b) for b in itertools.islice(data.batches(0), 12)]
    again = [_rows(b) for b in itertools.islice(data.batches(0), 12)]
    resumed = [_rows(b) for b in itertools.islice(data.batches(7), 5)]
    other_seed = pipeline.make_train_data(ds_config, batch_size=8, seed=4)
    other = [_rows(b) for b in itertools.islice(other_seed.batches(0), 5)]
  assert first == again
  assert resumed == first[7:12]
  epoch0, epoch1 = sum(first[0:5], []), sum(first[5:10], [])
  assert sorted(epoch0) == sorted(epoch1) and epoch0 != epoch1  # same examples, new order each epoch
  assert len(set(epoch0)) == 40
  assert other != first[:5]


def test_normalisation_uses_config_mean_and_std():
  ds_config = _cifar_dataset_config()
  with tfds.testing.mock_data(num_examples=16):
    batch = next(pipeline.make_train_data(ds_config, batch_size=16, seed=0).batches(0))
  assert batch["image"].dtype == np.float32
  assert batch["image"].min() >= (0 - 0.5) / 0.25 - 1e-6 and batch["image"].max() <= (1 - 0.5) / 0.25 + 1e-6


def test_batch_larger_than_split_is_a_clear_error():
  ds_config = _cifar_dataset_config()
  with tfds.testing.mock_data(num_examples=10), pytest.raises(ValueError, match="lower config.batch_size"):
    pipeline.make_train_data(ds_config, batch_size=16, seed=0)


def test_pipelines_run_without_the_autotuning_model():
  """Destroying an iterator joins tf.data's autotuning thread, which idled training for up to a minute at epoch
  ends (cnnjax/data/pipeline.py's _load): the loaded splits, and so every pipeline built on them, have it off."""
  ds_config = _cifar_dataset_config()
  with tfds.testing.mock_data(num_examples=16):
    data = pipeline.make_train_data(ds_config, batch_size=8, seed=0)
    derived = data.dataset.shuffle(4).batch(8).prefetch(2).options().autotune.enabled
  assert data.dataset.options().autotune.enabled is False
  assert derived is False
