"""Lecture items 2 and 4: the single neuron's hand-written gradient and weight decay; back-propagation by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.lecture import backprop, neuron


@pytest.fixture(scope="module")
def data():
  z, t = neuron.two_class_data()
  return jnp.asarray(z), jnp.asarray(t)


def test_activity_is_the_lecture_sigmoid():
  z = jnp.array([[0.0, 1.0], [1.0, 0.0], [3.0, -1.5]])
  w = jnp.array([0.0, 1.0, 2.0])  # no bias, w1 = 1, w2 = 2
  expected = 1.0 / (1.0 + np.exp(-(1.0 * np.array([0.0, 1.0, 3.0]) + 2.0 * np.array([1.0, 0.0, -1.5]))))
  np.testing.assert_allclose(neuron.activity(w, z), expected, rtol=1e-6)
  assert float(neuron.activity(w, z)[2]) == pytest.approx(0.5)  # on the boundary w.z = 0


def test_objective_at_zero_weights_is_n_log_2(data):
  z, t = data
  assert float(neuron.objective_g(jnp.zeros(3), z, t)) == pytest.approx(len(t) * math.log(2), rel=1e-6)
  expected_gradient = -np.concatenate([[np.sum(t - 0.5)], np.asarray((t - 0.5) @ z)])
  np.testing.assert_allclose(neuron.gradient_g(jnp.zeros(3), z, t), expected_gradient, rtol=1e-6)


@pytest.mark.parametrize("w", [(0.0, 0.0, 0.0), (-1.0, 0.3, 0.2), (4.0, -2.0, 1.5)])
def test_hand_written_gradient_equals_jax_grad(data, w):
  z, t = data
  w = jnp.asarray(w)
  np.testing.assert_allclose(neuron.gradient_g(w, z, t), jax.grad(neuron.objective_g)(w, z, t), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(neuron.gradient_m(w, z, t, 0.1), jax.grad(neuron.objective_m)(w, z, t, 0.1),
                             rtol=1e-5, atol=1e-5)


def test_weight_decay_shrinks_the_weights(data):
  z, t = data
  finals = {a: neuron.train(z, t, a, 0.01, 3000) for a in neuron.ALPHAS}
  norms = [float(jnp.linalg.norm(finals[a][0][-1])) for a in neuron.ALPHAS]
  assert norms == sorted(norms, reverse=True) and norms[0] > 2 * norms[-1]
  objective = np.asarray(finals[0.0][1])
  assert np.all(np.diff(objective) <= 1e-6)  # small-step gradient descent never increases G
  assert objective[-1] < 0.05 * objective[0]  # separable data: G -> 0 as |w| grows
  w_strong = finals[1.0][0][-1]  # with alpha = 1 descent has converged to the minimum of M: g + alpha w = 0
  assert float(jnp.max(jnp.abs(neuron.gradient_m(w_strong, z, t, 1.0)))) < 1e-3


def test_circuit_example():
  values = backprop.circuit(-2.0, 5.0, -4.0)
  assert (values["f"], values["df/dx"], values["df/dy"], values["df/dz"]) == (-12.0, -4.0, -4.0, 3.0)
  assert backprop.circuit_autodiff(-2.0, 5.0, -4.0) == (-12.0, (-4.0, -4.0, 3.0))


def test_multiply_example():
  assert backprop.multiply(-2.0, 3.0) == {"f": -6.0, "df/dx": 3.0, "df/dy": -2.0}  # each input gets the other
  assert backprop.multiply_autodiff(-2.0, 3.0) == (-6.0, (3.0, -2.0))


@pytest.mark.parametrize("error", ["squared", "cross_entropy"])
@pytest.mark.parametrize("seed,lam", [(0, 0.1), (1, 0.0), (2, 1.0)])
def test_hand_written_backward_equals_jax_grad(error, seed, lam):
  """The lecture's network (sigmoid outputs), its error plus lambda/2 ||w||^2: hand-derived == jax.grad."""
  hand, auto = backprop.gradient_check(error, lam, seed=seed)
  assert jax.tree.structure(hand) == jax.tree.structure(auto)
  for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto)):
    assert h.shape == a.shape
    np.testing.assert_allclose(h, a, rtol=1e-5, atol=1e-6)


def test_weight_decay_term_adds_lambda_w_to_kernels_only():
  without, _ = backprop.gradient_check("squared", 0.0, seed=3)
  with_decay, _ = backprop.gradient_check("squared", 0.5, seed=3)
  model = backprop.one_hidden_layer(8, 3)
  params = model.init(jax.random.split(jax.random.key(3), 3)[0], jnp.zeros((1, 5)))["params"]
  for layer in ("fc1", "head"):
    np.testing.assert_allclose(with_decay[layer]["kernel"] - without[layer]["kernel"], 0.5 * params[layer]["kernel"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(with_decay[layer]["bias"], without[layer]["bias"])


def test_cross_entropy_output_delta_is_y_minus_t():
  """The sigmoid's derivative cancels: dE/da = y - t for cross-entropy, (y - t) y (1 - y) for squared error."""
  a = jnp.linspace(-3.0, 3.0, 7)
  t = jnp.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
  for error in ("squared", "cross_entropy"):
    auto = jax.grad(lambda a: backprop.ERRORS[error](jax.nn.sigmoid(a), t))(a)
    np.testing.assert_allclose(backprop.OUTPUT_DELTAS[error](jax.nn.sigmoid(a), t), auto, rtol=1e-5, atol=1e-7)


def test_weight_decay_prevents_overfitting_on_held_out_points(data):
  z, t = data
  z_test, t_test = (jnp.asarray(a) for a in neuron.two_class_data(500, seed=1))
  scores = {a: neuron.held_out_scores(neuron.train(z, t, a, 0.01, 40_000)[0][-1], z_test, t_test)
            for a in (0.0, 0.01, 1.0)}
  assert scores[0.01]["mean_G"] < scores[0.0]["mean_G"]   # no decay: over-confident step boundary
  assert scores[0.01]["mean_G"] < scores[1.0]["mean_G"]   # too much decay: underfits
