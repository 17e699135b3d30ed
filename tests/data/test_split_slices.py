"""tfds split slices ("train[:1000]") select a subset for small-data experiments; unknown splits get a clear error."""

import pytest

from cnnjax.data import pipeline
from cnnjax.train.config import default_config


def test_sliced_train_split_has_its_size():
  config = default_config()
  config.dataset.train_split = "train[:300]"
  data = pipeline.make_train_data(config.dataset, batch_size=100, seed=0)
  assert (data.num_examples, data.steps_per_epoch) == (300, 3)
  batch = next(data.batches())
  assert batch["image"].shape == (100, 28, 28, 1)


def test_unknown_split_names_the_choices():
  config = default_config()
  config.dataset.train_split = "validation"
  with pytest.raises(ValueError, match=r"split 'validation' does not exist in fashion_mnist.*'test', 'train'"):
    pipeline.make_train_data(config.dataset, batch_size=100, seed=0)
