"""Grad-CAM and saliency on models whose answer is known: Grad-CAM is non-negative, has the input's size and
follows the class evidence; saliency is the largest |d logit / d pixel| over channels."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.analysis import explain


class _EvidenceNet(nn.Module):
  """conv 1x1 copying the channel (a stage of 8x8), global mean, then class 0 = +mean, class 1 = -mean."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    a = nn.Conv(1, (1, 1), use_bias=False, kernel_init=nn.initializers.ones, name="stage")(x)
    pooled = a.mean(axis=(1, 2))
    return nn.Dense(2, kernel_init=lambda *_: jnp.asarray([[1.0, -1.0]]), name="fc")(pooled)


def _evidence_image():
  image = np.zeros((16, 16, 1), np.float32)
  image[2:6, 10:14] = 1.0  # the evidence for class 0, top right
  return image


def test_grad_cam_is_non_negative_full_size_and_follows_the_evidence():
  model = _EvidenceNet()
  image = _evidence_image()
  variables = model.init(jax.random.key(0), image[None])
  assert [name for name, _ in explain.spatial_modules(model, variables, image[None])] == ["stage"]
  heat, c, layer = explain.grad_cam(model, variables, image)
  assert c == 0 and layer == "stage" and heat.shape == (16, 16)
  assert heat.min() >= 0
  assert heat[2:6, 10:14].min() > 0.5 * heat.max() and heat[8:, :8].max() == 0
  assert np.unravel_index(heat.argmax(), heat.shape)[1] >= 8
  against, _, _ = explain.grad_cam(model, variables, image, class_index=1)  # the evidence counts against class 1
  assert against.max() == 0


def test_grad_cam_picks_the_last_spatial_stage_of_a_zoo_model():
  from cnnjax.models import get_model
  model = get_model("cifar_resnet20", num_classes=10)
  image = np.random.default_rng(0).normal(size=(28, 28, 1)).astype(np.float32)
  variables = jax.jit(model.init)(jax.random.key(0), image[None])
  stages = explain.spatial_modules(model, variables, image[None])
  assert stages[-1][1] == (1, 7, 7, 64)
  heat, _, _ = explain.grad_cam(model, variables, image)
  assert heat.shape == (28, 28) and heat.min() >= 0 and heat.max() > 0


def test_saliency_is_the_channel_maximum_of_the_absolute_gradient():
  class Linear(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
      return nn.Dense(3, name="fc")(x.reshape((x.shape[0], -1)))

  model = Linear()
  image = np.random.default_rng(1).normal(size=(5, 4, 3)).astype(np.float32)
  variables = model.init(jax.random.key(2), image[None])
  kernel = np.asarray(variables["params"]["fc"]["kernel"])  # [5*4*3, 3]: logit_c's gradient is its column
  for c in range(3):
    heat, chosen = explain.saliency(model, variables, image, c)
    assert chosen == c
    np.testing.assert_allclose(heat, np.abs(kernel[:, c]).reshape(5, 4, 3).max(-1), rtol=1e-6)
  logits = image.reshape(-1) @ kernel + np.asarray(variables["params"]["fc"]["bias"])
  assert explain.saliency(model, variables, image)[1] == int(logits.argmax())


def test_heat_overlay_is_image_and_heat_side_by_side():
  pixels = (np.arange(28 * 28).reshape(28, 28, 1) % 256).astype(np.uint8)
  heat = np.zeros((28, 28), np.float32)
  heat[:4, :4] = 1.0
  picture = explain.heat_overlay(pixels, heat)
  assert picture.dtype == np.uint8 and picture.shape == (224, 2 * 224 + 8, 3)
  np.testing.assert_array_equal(picture[:8:, :8, 0], np.repeat(np.repeat(pixels[:1, :1, 0], 8, 0), 8, 1))
  left = picture[:, :224].astype(int)
  right = picture[:, 232:].astype(int)
  assert (right[:16, :16, 2] != left[:16, :16, 2]).any()  # jet colours where the heat is
