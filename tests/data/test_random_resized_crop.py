"""tf.data random-resized-crop: output size, area/aspect ranges, determinism per seed, config wiring."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from cnnjax.data import pipeline
from cnnjax.train.config import default_config


def test_crop_size_ranges_and_seeds():
  image = tf.reshape(tf.range(60 * 80 * 3) % 251, (60, 80, 3))
  image = tf.cast(image, tf.uint8)
  out = pipeline.random_resized_crop(image, tf.constant([1, 2], tf.int64), 16)
  assert out.shape == (16, 16, 3) and out.dtype == tf.uint8
  same = pipeline.random_resized_crop(image, tf.constant([1, 2], tf.int64), 16)
  np.testing.assert_array_equal(out, same)
  other = pipeline.random_resized_crop(image, tf.constant([1, 3], tf.int64), 16)
  assert not np.array_equal(out, other)
  whole = tf.constant([[[0.0, 0.0, 1.0, 1.0]]])
  for i in range(50):
    _, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        (60, 80, 3), whole, seed=(7, i), min_object_covered=0.0, aspect_ratio_range=[0.75, 4 / 3],
        area_range=[0.25, 0.5], max_attempts=10, use_image_if_no_bounding_boxes=True)
    h, w = int(extent[0]), int(extent[1])
    assert (h, w) == (60, 80) or 0.2 <= h * w / 4800 <= 0.55


def test_train_batches_use_the_crop_and_are_reproducible():
  config = default_config()
  config.dataset.name = "imagenet2012"
  config.dataset.image_size = 24
  config.dataset.random_resized_crop = True
  config.dataset.mean = (0.5, 0.5, 0.5)
  config.dataset.std = (0.25, 0.25, 0.25)
  with tfds.testing.mock_data(num_examples=8):
    data = pipeline.make_train_data(config.dataset, 4, seed=0)
    first = next(data.batches(0))
    again = next(data.batches(0))
  assert first["image"].shape == (4, 24, 24, 3)
  np.testing.assert_array_equal(first["image"], again["image"])


def test_crop_needs_an_image_size():
  config = default_config()
  config.dataset.random_resized_crop = True
  with pytest.raises(ValueError, match="image_size"):
    pipeline.make_train_data(config.dataset, 4, seed=0)
