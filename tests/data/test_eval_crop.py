"""ImageNet-style evaluation view: shorter side resized to 256, centre 224 crop, with torchvision's sizes and
offsets; training images and eval_crop_fraction=0 keep the whole-image resize."""

import numpy as np
import tensorflow as tf

from cnnjax.data import pipeline
from cnnjax.train import config as config_lib


def _smooth_image(height, width):
  rows, cols = np.mgrid[0:height, 0:width]
  channels = [128 + 100 * np.sin(rows / 23.0 + k) * np.cos(cols / 31.0 - k) for k in range(3)]
  return np.stack(channels, -1).round().astype(np.uint8)


def test_resize_256_and_centre_crop_224_take_torchvisions_window():
  from cnnjax.weights.torch_shim import import_torch, import_torchvision
  torch = import_torch()
  import_torchvision()
  from torchvision.transforms import v2
  assert pipeline.eval_resize_size(224, 0.875) == 256 and pipeline.eval_resize_size(384, 1.0) == 384
  for height, width, top, left in ((300, 400, 16, 58), (500, 375, 58, 16), (256, 256, 16, 16)):
    image = _smooth_image(height, width)
    out = pipeline.resize_shorter_and_center_crop(tf.constant(image), 256, 224).numpy()
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    resized_shape = (256, 256 * width // height) if height <= width else (256 * height // width, 256)
    resized = tf.image.resize(image, resized_shape, antialias=True).numpy()
    expected = np.clip(np.round(resized[top:top + 224, left:left + 224]), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    reference = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(
        torch.from_numpy(image).permute(2, 0, 1).float()).permute(1, 2, 0).numpy()
    assert np.abs(out.astype(np.float32) - reference).mean() < 1.0  # same window; the filters differ slightly


def _decode(train, **dataset):
  config = config_lib.default_config()
  config.dataset.update(dataset)
  image = _smooth_image(300, 400)
  out = pipeline._decode_fn(config.dataset, train)({"image": tf.constant(image), "label": tf.constant(3)})
  return image, out["image"].numpy()


def test_eval_crop_applies_to_evaluation_only():
  image, evaluated = _decode(False, image_size=224, eval_crop_fraction=0.875)
  np.testing.assert_array_equal(evaluated, pipeline.resize_shorter_and_center_crop(tf.constant(image), 256, 224))
  _, trained = _decode(True, image_size=224, eval_crop_fraction=0.875)
  _, whole = _decode(False, image_size=224)
  np.testing.assert_array_equal(trained, whole)
  assert not np.array_equal(evaluated, whole)


def test_imagenet_config_evaluates_on_the_centre_crop():
  import importlib
  config = importlib.import_module("configs.imagenet_resnet50").get_config()
  assert config.dataset.image_size == 224 and config.dataset.eval_crop_fraction == 0.875
