"""Segmentation models: published parameter counts, output sizes, forward + backward on small inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.analysis.counting import count_params
from cnnjax.models import get_model
from cnnjax.models.fcn import bilinear_upsample
from cnnjax.models.unet import unet_output_size
from tests.models.variables import numpy_variables


def _abstract_params(model, shape):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape)))["params"]


def test_unet_parameter_count_and_572_to_388():
  """Ronneberger et al. 2015: 1 input channel, 2 classes, unpadded: 31,030,658 weights; 572 -> 388."""
  model = get_model("unet", num_classes=2)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 572, 572, 1))))
  assert count_params(variables["params"]) == 31_030_658
  out = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((1, 572, 572, 1))), variables)
  assert out.shape == (1, 388, 388, 2)
  assert unet_output_size(572) == 388


def test_unet_rejects_sizes_that_do_not_pool_evenly():
  with pytest.raises(ValueError, match="before pool"):
    unet_output_size(570)


def test_fcn32s_parameter_count_without_fixed_upsampling():
  """VGG-16 convs 14,714,688 + fc6 7x7x512x4096 + fc7 + score(21): 134,346,581; final bilinear upsampling fixed."""
  params = _abstract_params(get_model("fcn32s", num_classes=21), (1, 224, 224, 3))
  assert count_params(params) == 134_346_581
  learned = _abstract_params(get_model("fcn32s", num_classes=21, learn_final_upsampling=True), (1, 224, 224, 3))
  assert count_params(learned) == 134_346_581 + 64 * 64 * 21 * 21


def test_fcn_skips_add_score_layers_and_learned_2x_upsamplings():
  p32 = count_params(_abstract_params(get_model("fcn32s", num_classes=21), (1, 224, 224, 3)))
  p16 = count_params(_abstract_params(get_model("fcn16s", num_classes=21), (1, 224, 224, 3)))
  p8 = count_params(_abstract_params(get_model("fcn8s", num_classes=21), (1, 224, 224, 3)))
  upscore2 = 4 * 4 * 21 * 21
  assert p16 - p32 == 512 * 21 + 21 + upscore2
  assert p8 - p16 == 256 * 21 + 21 + upscore2


def test_segnet_parameter_count():
  """VGG-16-BN encoder + mirrored decoder, 12 classes (CamVid): 29.45M as the paper's 29.5M."""
  variables = jax.eval_shape(lambda: get_model("segnet", num_classes=12).init(jax.random.key(0),
                                                                             jnp.zeros((1, 64, 64, 3))))
  assert count_params(variables["params"]) == 29_449_932


def test_bilinear_upsample_matches_bilinear_resize_away_from_the_border():
  x = jax.random.normal(jax.random.key(0), (1, 6, 6, 2))
  up = bilinear_upsample(x, 4)
  ref = jax.image.resize(x, (1, 24, 24, 2), "bilinear")
  assert up.shape == (1, 24, 24, 2)
  np.testing.assert_allclose(up[:, 4:-4, 4:-4], ref[:, 4:-4, 4:-4], atol=1e-5)


SMALL = {
    "fcn32s": dict(width=1 / 16, fc_features=16),
    "fcn16s": dict(width=1 / 16, fc_features=16),
    "fcn8s": dict(width=1 / 16, fc_features=16, batch_norm=True),
    "segnet": dict(width=1 / 16),
    "unet": dict(features=4, depth=2),
    "unet_padded": dict(features=4, batch_norm=True),
}
INPUT = {"unet": 44}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_backward_and_output_size(name):
  size = INPUT.get(name, 32)
  model = get_model(name, num_classes=3, **SMALL[name])
  x = jax.random.normal(jax.random.key(1), (2, size, size, 1))
  variables = numpy_variables(model, x)
  expected = unet_output_size(size, 2) if name == "unet" else size

  def loss(params):
    out, _ = model.apply({**variables, "params": params}, x, train=True, rngs={"dropout": jax.random.key(2)},
                         mutable=["batch_stats"])
    return jnp.mean(out ** 2), out

  grads, out = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
  assert out.shape == (2, expected, expected, 3)
  assert bool(jnp.all(jnp.isfinite(out)))
  norms = jax.tree.leaves(jax.tree.map(lambda g: float(jnp.abs(g).sum()), grads))
  assert all(np.isfinite(norms))
  assert sum(n > 0 for n in norms) >= 0.9 * len(norms)  # (almost) every parameter gets a gradient
