"""Segmentation data: composed Fashion-MNIST scenes (pure composer and tfds builder), oxford_iiit_pet masks."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnjax.data import fashion_scenes, pipeline
from cnnjax.train.config import default_config


def _garment_pool(count=20, seed=0):
  """Synthetic 28x28 'garments': a bright rectangle per class, so foreground pixels are known."""
  rng = np.random.default_rng(seed)
  images = np.zeros((count, 28, 28), np.uint8)
  for i in range(count):
    images[i, 4 + i % 5:20 + i % 5, 6:22] = 100 + 10 * (i % 10)
  return images, rng.integers(0, 10, count)


def test_scenes_are_deterministic_and_labels_mark_foreground_pixels():
  images, labels = _garment_pool()
  spec = fashion_scenes.SceneSpec(canvas=64, num_train=6, num_test=2, seed=3)
  first = list(fashion_scenes.compose_split(images, labels, 6, spec, 0))
  again = list(fashion_scenes.compose_split(images, labels, 6, spec, 0))
  other = list(fashion_scenes.compose_split(images, labels, 6, spec, 1))
  for (_, a), (_, b) in zip(first, again):
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["segmentation_mask"], b["segmentation_mask"])
  assert any(not np.array_equal(a["image"], b["image"]) for (_, a), (_, b) in zip(first, other))
  for _, example in first:
    image, mask = example["image"][..., 0], example["segmentation_mask"][..., 0]
    assert image.shape == mask.shape == (64, 64)
    np.testing.assert_array_equal(mask > 0, image >= fashion_scenes.FOREGROUND_THRESHOLD)
    assert 2 <= example["num_garments"] <= 4
    assert set(np.unique(mask)) <= set(range(fashion_scenes.NUM_CLASSES))


def test_each_garment_pixel_carries_its_class():
  images, labels = _garment_pool(1)
  labels = np.array([6])
  spec = fashion_scenes.SceneSpec(canvas=28, min_garments=1, max_garments=1)
  image, mask, count, _, _ = fashion_scenes.compose_scene(np.random.default_rng(0), images, labels, spec)
  assert count == 1
  np.testing.assert_array_equal(mask, np.where(images[0] >= 32, 7, 0))
  np.testing.assert_array_equal(image, images[0])


def test_builder_serves_dense_labels_through_the_pipeline(tmp_path, monkeypatch):
  """The tfds builder prepares offline; the ordinary pipeline decodes image [64, 64, 1] and label [64, 64]."""
  monkeypatch.setattr(fashion_scenes, "_load_fashion_mnist", lambda split, data_dir: _garment_pool(30))
  monkeypatch.setattr(fashion_scenes.FashionScenes, "SPEC", fashion_scenes.SceneSpec(num_train=12, num_test=5))
  config = default_config().dataset
  config.name, config.label_key, config.data_dir = "fashion_scenes", "segmentation_mask", str(tmp_path)
  config.mean, config.std = (0.15,), (0.3,)
  data = pipeline.make_eval_iterator(config, "test", 4)
  batches = list(data.iterator)
  assert data.num_examples == 5 and len(batches) == 2
  assert batches[0]["image"].shape == (4, 64, 64, 1) and batches[0]["label"].shape == (4, 64, 64)
  assert batches[0]["label"].dtype == np.int32 and batches[0]["label"].max() <= 10
  assert batches[1]["mask"].tolist() == [1, 0, 0, 0]
  train = next(pipeline.make_train_data(config, 4, seed=0).batches())
  assert train["label"].shape == (4, 64, 64)


def _pet_metadata(data_dir, num_test: int) -> None:
  """Writes oxford_iiit_pet's dataset_info.json with a test split, which mock_data needs for split sizes."""
  builder = tfds.builder("oxford_iiit_pet", data_dir=str(data_dir))
  builder.info.set_splits(tfds.core.SplitDict([tfds.core.SplitInfo(name="test", shard_lengths=[num_test],
                                                                   num_bytes=0)]))
  builder.data_path.mkdir(parents=True, exist_ok=True)
  builder.info.write_to_directory(builder.data_path)


def test_oxford_iiit_pet_masks_are_resized_with_nearest_neighbours(tmp_path):
  """Pet trimaps (values 1..3) come out as int32 [B, 64, 64] with only the values they had (nearest resize)."""
  _pet_metadata(tmp_path, 3)
  config = default_config().dataset
  config.name, config.label_key, config.image_size = "oxford_iiit_pet", "segmentation_mask", 64
  config.data_dir = str(tmp_path)
  config.num_classes, config.mean, config.std = 4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
  with tfds.testing.mock_data(num_examples=3, max_value=3, policy=tfds.testing.MockPolicy.USE_FILES,
                              data_dir=str(tmp_path)):
    data = pipeline.make_eval_iterator(config, "test", 2)
    batches = list(data.iterator)
  assert data.num_examples == 3
  assert batches[0]["image"].shape == (2, 64, 64, 3)
  assert batches[0]["label"].shape == (2, 64, 64)
  labels = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
  assert labels.dtype == np.int32 and labels.shape[0] == 3
  assert set(np.unique(labels)) <= {0, 1, 2, 3}
