"""Lecture section 'what the layers learn' on a tiny case: an untrained ResNet-20 and a few random images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.lecture import layers_learn


@pytest.fixture(scope="module")
def variables():
  return jax.jit(layers_learn.model().init)(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(0).normal(size=(6, 28, 28, 1)).astype(np.float32)


def test_top_activations_are_the_channel_maxima(variables, images):
  found = layers_learn.top_activations(variables, images, "layer1", channels=(0, 3), k=3)
  maps = np.asarray(layers_learn.feature_maps(variables, jnp.asarray(images), "layer1"))
  for c, items in found.items():
    assert len({n for n, *_ in items}) == 3   # one per image
    n, y, x, value = items[0]
    assert value == pytest.approx(float(maps[..., c].max()), rel=1e-5)
    assert maps[n, y, x, c] == pytest.approx(value, rel=1e-5)
    assert [v for *_, v in items] == sorted((v for *_, v in items), reverse=True)


def test_receptive_patch_grows_with_depth_and_stays_within_the_theoretical_field(variables, images):
  # stride-1 stem 3x3 + stage 1's six 3x3 convs: a 15x15 field; stage 2 (stride 2): 3 + 2*6 + 2*2*5 + ... > 15.
  maps1 = np.asarray(layers_learn.feature_maps(variables, jnp.asarray(images[:1]), "layer1"))[0, 7:21, 7:21]
  y, x, c = np.unravel_index(maps1.argmax(), maps1.shape)  # a live unit away from the border
  patch, box1 = layers_learn.receptive_patch(variables, images[0], "layer1", y + 7, x + 7, c)
  assert 3 < max(box1[2] - box1[0], box1[3] - box1[1]) <= 15 and patch.shape == (box1[2] - box1[0], box1[3] - box1[1])
  assert box1[0] >= y + 7 - 7 and box1[2] <= y + 7 + 8
  maps3 = np.asarray(layers_learn.feature_maps(variables, jnp.asarray(images[:1]), "layer3"))[0]
  y, x, c = np.unravel_index(maps3.argmax(), maps3.shape)
  _, box3 = layers_learn.receptive_patch(variables, images[0], "layer3", y, x, c)
  assert max(box3[2] - box3[0], box3[3] - box3[1]) > 15


def test_gradient_ascent_raises_each_channel(variables):
  images, before, after = layers_learn.gradient_ascent(variables, "layer2", (0, 1), steps=4)
  assert images.shape == (2, 28, 28, 1)
  assert np.all(after > before + 0.1)
  assert images.min() >= -0.81 - 1e-6 and images.max() <= 2.02 + 1e-6
