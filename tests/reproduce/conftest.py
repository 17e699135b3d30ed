"""Fixtures for study tests: a prepared MNIST-1D folder and tfds mock data with real split sizes."""

import contextlib
import os

import pytest
import tensorflow_datasets as tfds

from cnnjax.data import sources


@pytest.fixture(scope="session")
def mnist1d_data_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("tfds_mnist1d"))
  sources.get_builder("mnist1d", data_dir)
  return data_dir


@pytest.fixture
def mock_tfds():
  """Returns mock(name, num_examples, metadata_dir): a context manager serving random examples."""
  return _mock_tfds


@contextlib.contextmanager
def _mock_tfds(name: str, num_examples: int, metadata_dir: str, splits=("train", "test")):
  """tfds.testing.mock_data whose builder info lists `splits` with `num_examples` each (what the pipeline reads)."""
  builder = tfds.builder(name, data_dir=metadata_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=s, shard_lengths=[num_examples], num_bytes=0, filename_template=None)
      for s in splits]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)
  with tfds.testing.mock_data(num_examples=num_examples, data_dir=metadata_dir):
    yield


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
  """Study tests train the same small programs many times (seeds, repeats): compile each once.

  Module-scoped, so the rest of the suite keeps JAX's default (no persistent cache).
  """
  import jax
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  previous = {name: getattr(jax.config, name) for name in names}
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield
  for name, value in previous.items():
    jax.config.update(name, value)
  # JAX keeps its cache object once made: without a reset, later tests in this worker would still hit it.
  from jax.experimental.compilation_cache import compilation_cache as jax_cache
  jax_cache.reset_cache()
