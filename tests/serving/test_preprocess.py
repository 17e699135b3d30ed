"""Preprocessing parity: "imagenet_eval" is torchvision's ImageNet eval transform; "resize" is the run's pipeline."""

import numpy as np
import pytest

from cnnjax.serving import preprocess
from cnnjax.weights.directory import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(scope="module")
def photo():
  from sklearn.datasets import load_sample_image
  return load_sample_image("china.jpg")  # 427 x 640 RGB


def test_resized_size_and_crop_offsets_by_hand():
  assert preprocess.resized_size(640, 427, 256) == (383, 256)  # int(256 * 640 / 427) = int(383.7)
  assert preprocess.resized_size(301, 457, 256) == (256, 388)
  assert preprocess.center_crop_offsets(256, 383, 224, 224) == (16, 80)  # round(79.5) = 80 (half to even)
  assert preprocess.center_crop_offsets(388, 256, 224, 224) == (82, 16)


@pytest.mark.parametrize("crop", [(0, 0, 427, 640), (10, 37, 367, 338), (0, 0, 301, 457)],
                         ids=["landscape", "portrait", "odd"])
def test_imagenet_eval_equals_torchvision_transforms(photo, crop):
  from PIL import Image

  from cnnjax.weights.torch_shim import import_torchvision
  tv = import_torchvision()
  top, left, h, w = crop
  pixels = np.ascontiguousarray(photo[top:top + h, left:left + w])
  expected = tv.models.ResNet18_Weights.IMAGENET1K_V1.transforms()(Image.fromarray(pixels)).numpy()
  got = preprocess.imagenet_eval(pixels, (224, 224, 3), IMAGENET_MEAN, IMAGENET_STD)
  assert got.shape == (224, 224, 3) and got.dtype == np.float32
  np.testing.assert_allclose(got, expected.transpose(1, 2, 0), rtol=0, atol=1e-6)


def test_resize_equals_the_training_pipeline(photo):
  """A run's eval input: the pipeline's own decode (config.dataset.image_size resize) and normalisation."""
  import ml_collections
  import tensorflow as tf

  from cnnjax.data import pipeline
  ds = ml_collections.ConfigDict({"image_key": "image", "label_key": "label", "image_size": 32,
                                  "mean": (0.49, 0.48, 0.45), "std": (0.25, 0.24, 0.26)})
  decoded = pipeline._decode_fn(ds)({"image": tf.constant(photo), "label": tf.constant(0)})
  expected = pipeline._normalise_fn(ds)(decoded)["image"].numpy()
  got = preprocess.resize(photo, (32, 32, 3), ds.mean, ds.std)
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
  assert np.abs(got - preprocess.normalise(photo[:32, :32], ds.mean, ds.std)).max() > 0.1  # it did resize
