"""cnnjax.commands.segment.predict: the trained model's input scale, and labels at the image's size."""

from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from cnnjax.commands.segment import predict


class SignOfInput(nn.Module):
  """Two-class 'segmenter': class 1 where the normalised input is positive. Records its input size."""

  record: Callable

  @nn.compact
  def __call__(self, x, train: bool = False):
    self.record(x.shape)
    return jnp.concatenate([-x, x], axis=-1)


def test_predict_runs_the_model_at_the_training_size_and_maps_labels_back():
  pixels = np.zeros((2, 64, 64, 1), np.uint8)
  pixels[:, :, :20] = 255  # left 20 columns bright
  seen = []
  ds = {"mean": (0.5,), "std": (1.0,), "image_size": 128}
  labels = predict(SignOfInput(seen.append), {}, ds, pixels)
  assert seen[-1] == (2, 128, 128, 1)
  assert labels.shape == (2, 64, 64)
  assert np.all(labels[:, :, :19] == 1) and np.all(labels[:, :, 21:] == 0)
  labels = predict(SignOfInput(seen.append), {}, {**ds, "image_size": None}, pixels)
  assert seen[-1] == (2, 64, 64, 1) and np.all(labels[:, :, :20] == 1) and np.all(labels[:, :, 20:] == 0)
