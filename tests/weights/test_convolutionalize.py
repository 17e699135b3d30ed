"""Convolutionalisation: a VGG classifier's fc layers as convolutions give its logits at the training size and
a score map on larger inputs, and its variables start an FCN (backbone, fc6, fc7; score_fr where classes match)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.errors import InputError
from cnnjax.models import fcn, vgg
from cnnjax.train import init_from
from cnnjax.weights import convolutionalize

STAGES = fcn.scaled_vgg16_stages(0.125)


def _classifier(pool_size, **kwargs):
  return vgg.VGG(stages=STAGES, batch_norm=True, num_classes=10, hidden_size=32, pool_size=pool_size, **kwargs)


def _trained_looking(variables):
  """Variables with non-trivial batch statistics and biases, as after training (fresh ones are 0 and 1)."""
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(7), len(leaves))
  return jax.tree.unflatten(tree, [abs(a + 0.2 * jax.random.normal(k, a.shape)) for a, k in zip(leaves, keys)])


@pytest.mark.parametrize("size, pool_size, large, score_side", [(56, (1, 1), 128, 4), (64, (2, 2), 128, 3)])
def test_the_convolutionalised_classifier_gives_its_logits_at_the_training_size_and_a_map_on_larger_inputs(
    size, pool_size, large, score_side):
  classifier = _classifier(pool_size)
  x = jax.random.normal(jax.random.key(1), (2, size, size, 1))
  variables = _trained_looking(classifier.init(jax.random.key(0), x))
  converted = convolutionalize.classifier_to_convolutional(variables)
  assert converted["params"]["fc6"]["kernel"].shape == (*pool_size, STAGES[-1][-1], 32)
  convolutional = _classifier(pool_size, fully_convolutional=True)
  scores = convolutional.apply(converted, x)
  assert scores.shape == (2, 1, 1, 10)
  np.testing.assert_allclose(scores[:, 0, 0], classifier.apply(variables, x), rtol=1e-5, atol=1e-5)
  score_map = convolutional.apply(converted, jax.random.normal(jax.random.key(2), (2, large, large, 1)))
  assert score_map.shape == (2, score_side, score_side, 10) and np.all(np.isfinite(score_map))


def test_classifier_to_fcn_fills_the_backbone_and_fc_layers_and_reinitialises_a_score_layer_of_another_width():
  classifier = _classifier((1, 1))
  variables = jax.device_get(_trained_looking(classifier.init(jax.random.key(0), jnp.zeros((1, 56, 56, 1)))))
  net = fcn.fcn8s(num_classes=11, width=0.125, fc_features=32, batch_norm=True, fc6_kernel=(1, 1))
  x = jax.random.normal(jax.random.key(1), (1, 64, 64, 1))
  fresh = jax.device_get(dict(net.init(jax.random.key(5), x)))
  merged, report = init_from.merge(fresh, convolutionalize.classifier_to_fcn(variables))
  assert report["reinitialised"] == ["params/score_fr/bias (11,) <- (10,)",
                                     "params/score_fr/kernel (1, 1, 32, 11) <- (1, 1, 32, 10)"]
  assert sorted(report["missing"]) == ["params/score_pool3/bias", "params/score_pool3/kernel",
                                       "params/score_pool4/bias", "params/score_pool4/kernel",
                                       "params/upscore_pool3/kernel", "params/upscore_pool4/kernel"]
  assert report["unused"] == 0
  np.testing.assert_array_equal(merged["params"]["fc6"]["kernel"][0, 0], variables["params"]["fc6"]["kernel"])
  # The FCN's backbone now computes the classifier's feature maps.
  _, captured = net.apply(merged, x, capture_intermediates=True, mutable=["intermediates"])
  ours = captured["intermediates"]["backbone"]["__call__"][0]
  theirs = classifier.apply(variables, x, method=vgg.VGG.features)
  np.testing.assert_allclose(ours["pool5"], theirs["pool5"], rtol=1e-5, atol=1e-5)


def test_a_dense_kernel_that_is_no_square_window_is_refused():
  with pytest.raises(InputError, match=r"not a square window of 4 channels"):
    convolutionalize.dense_to_conv(np.zeros((12, 3)), 4)
  assert convolutionalize.dense_to_conv(np.arange(16 * 2).reshape(16, 2), 4).shape == (2, 2, 4, 2)
