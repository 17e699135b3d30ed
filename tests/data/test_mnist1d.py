"""MNIST-1D through tfds: the exact make_dataset() defaults, float signals through the pipeline."""

import random
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnjax.data import mnist1d, pipeline, sources
from cnnjax.train.config import default_config


@pytest.fixture(scope="module")
def mnist1d_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  sources.get_builder("mnist1d", data_dir)
  return data_dir


def test_builder_serves_the_published_dataset_unchanged(mnist1d_dir):
  from mnist1d import data as reference
  expected = reference.make_dataset(reference.get_dataset_args())
  builder = sources.get_builder("mnist1d", mnist1d_dir)
  assert builder.info.splits["train"].num_examples == 4000
  assert builder.info.splits["test"].num_examples == 1000
  test = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1, shuffle_files=False))
  assert test["signal"].shape == (1000, 40, 1) and test["signal"].dtype == np.float32

  def rows(signals, labels):  # tfds stores examples in its own order: compare the sorted (label, signal) rows
    table = np.concatenate([labels[:, None].astype(np.float32), signals.reshape(len(labels), -1)], axis=1)
    return table[np.lexsort(table.T[::-1])]

  np.testing.assert_array_equal(rows(test["signal"], test["label"]),
                                rows(expected["x_test"].astype(np.float32), expected["y_test"]))


def test_generate_restores_global_random_state():
  np.random.seed(123)
  random.seed(123)
  before = (np.random.random(), random.random())
  np.random.seed(123)
  random.seed(123)
  mnist1d.generate()
  assert (np.random.random(), random.random()) == before


def test_float_signals_are_not_rescaled_by_the_pipeline(mnist1d_dir):
  ds = default_config().dataset
  ds.name, ds.data_dir, ds.image_key, ds.mean, ds.std = "mnist1d", mnist1d_dir, "signal", (0.0,), (1.0,)
  data = pipeline.make_eval_iterator(ds, "test", 1000)
  batch = next(data.iterator)
  builder = sources.get_builder("mnist1d", mnist1d_dir)
  stored = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1, shuffle_files=False))["signal"]
  np.testing.assert_array_equal(batch["image"], stored)
  assert abs(float(batch["image"].std()) - 1.0) < 0.1  # make_dataset standardises the signals


def test_missing_download_only_dataset_fails_fast_with_how_to_get_it(tmp_path, monkeypatch):
  monkeypatch.setenv(sources.OFFLINE_ENV, "1")
  start = time.perf_counter()
  with pytest.raises(sources.DatasetUnavailableError, match=r"cannot download it.*tfds build cifar10"):
    sources.get_builder("cifar10", str(tmp_path))
  assert time.perf_counter() - start < 10


def test_downloads_are_tried_only_when_the_internet_answers(monkeypatch):
  monkeypatch.delenv(sources.OFFLINE_ENV, raising=False)
  monkeypatch.setattr(sources.socket, "getaddrinfo", lambda *a: (_ for _ in ()).throw(OSError("no DNS")))
  assert sources.downloads_possible() is False
  monkeypatch.setattr(sources.socket, "getaddrinfo", lambda *a: [("address",)])
  assert sources.downloads_possible() is True
  monkeypatch.setenv(sources.OFFLINE_ENV, "1")
  assert sources.downloads_possible() is False
