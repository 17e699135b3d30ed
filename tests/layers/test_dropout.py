"""Inverted dropout (flax nn.Dropout, re-exported): scaling, drop rate statistics, identity at test time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import Dropout


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_statistics_in_training(rate):
  n = 200_000
  x = jnp.full((n,), 3.0)
  y = jax.jit(lambda x, key: Dropout(rate).apply({}, x, deterministic=False, rngs={"dropout": key}))(
      x, jax.random.key(0))
  y = np.asarray(y)
  kept = y != 0
  np.testing.assert_allclose(y[kept], 3.0 / (1.0 - rate), rtol=1e-6)  # survivors scaled by 1 / (1 - p)
  sigma = np.sqrt(rate * (1 - rate) / n)
  assert abs((1 - kept.mean()) - rate) < 5 * sigma  # dropped fraction is p within 5 standard errors
  assert abs(y.mean() - 3.0) < 5 * 3.0 * np.sqrt(rate / (1 - rate) / n)  # the expectation is preserved


def test_dropout_matches_torch_scaling_and_is_identity_at_test_time():
  torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
  x = np.random.default_rng(0).uniform(1.0, 2.0, 1000).astype(np.float32)
  y = np.asarray(Dropout(0.3).apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(1)}))
  ref = torch.nn.functional.dropout(torch.tensor(x), 0.3, training=True).numpy()
  np.testing.assert_allclose(y[y != 0] / x[y != 0], 1 / 0.7, rtol=1e-6)
  np.testing.assert_allclose(ref[ref != 0] / x[ref != 0], 1 / 0.7, rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(Dropout(0.3).apply({}, x, deterministic=True)), x)
  np.testing.assert_array_equal(torch.nn.functional.dropout(torch.tensor(x), 0.3, training=False).numpy(), x)


def test_dropout_masks_differ_between_keys():
  x = jnp.ones((1000,))
  apply = jax.jit(lambda key: Dropout(0.5).apply({}, x, deterministic=False, rngs={"dropout": key}))
  a, b = apply(jax.random.key(0)), apply(jax.random.key(1))
  assert not np.array_equal(np.asarray(a), np.asarray(b))
