"""cnnjax.kernels.batch_norm: the CPU passes of batch_norm_relu give the plain JAX formulation's values and gradients.

Why: BatchNormReLU computes through these kernels on every CPU run; they must agree with the XLA
formulation (itself checked against torch and flax in tests/fast/test_batch_norm_relu.py) on one thread
and on several, with and without the residual, including the cotangents of the returned statistics.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.fast import batch_norm_relu as fused
from cnnjax.kernels import batch_norm
from tests.conftest import require_kernels


@pytest.fixture(scope="module", autouse=True)
def library():
  require_kernels("batch-norm kernels", batch_norm.unavailable_reason())


def _value_and_grads(x, scale, bias, residual, cotangents):
  """batch_norm_relu's outputs and its VJP, as one jitted program (the path chosen when it is traced)."""
  def run(x, scale, bias, residual):
    outputs, vjp = jax.vjp(fused.batch_norm_relu, x, scale, bias, residual)
    return outputs, vjp(cotangents)
  return jax.jit(run)(x, scale, bias, residual)


def _both_paths(monkeypatch, shape, with_residual, seed=0):
  rng = np.random.default_rng(seed)
  x = (3.0 * rng.standard_normal(shape) + 1.5).astype(np.float32)
  residual = rng.standard_normal(shape).astype(np.float32) if with_residual else None
  channels = shape[-1]
  scale = rng.uniform(0.5, 1.5, channels).astype(np.float32)
  bias = rng.uniform(-0.5, 0.5, channels).astype(np.float32)
  # the statistics' cotangents too: a loss that uses the batch mean and variance reaches x through them
  cotangents = (rng.standard_normal(shape).astype(np.float32), rng.standard_normal(channels).astype(np.float32),
                rng.standard_normal(channels).astype(np.float32))
  kernels = _value_and_grads(x, scale, bias, residual, cotangents)
  monkeypatch.setenv(batch_norm.DISABLE_ENV, "0")
  assert fused.kernels_status() == f"off: {batch_norm.DISABLE_ENV}=0"
  plain = _value_and_grads(x, scale, bias, residual, cotangents)
  monkeypatch.delenv(batch_norm.DISABLE_ENV)
  return kernels, plain


@pytest.mark.parametrize("shape", [(4, 5, 3), (16, 16, 16, 24), (64, 10)], ids=["small", "threaded", "dense"])
@pytest.mark.parametrize("with_residual", [False, True])
def test_kernels_equal_the_plain_formulation(monkeypatch, shape, with_residual):
  """Values, statistics and every gradient within float rounding (16x16x16x24 runs on several threads)."""
  assert fused.kernels_status() == "on"
  kernels, plain = _both_paths(monkeypatch, shape, with_residual)
  (z, mean, var), grads = kernels
  (z_ref, mean_ref, var_ref), grads_ref = plain
  np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(mean, mean_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(var, var_ref, rtol=1e-5)
  assert 0.2 < float(jnp.mean(z == 0)) < 0.8  # the ReLU cut a real share
  assert (grads[3] is None) == (not with_residual)
  for name, ours, ref in zip(("x", "scale", "bias", "residual"), grads, grads_ref):
    if ref is not None:
      scale_of = float(jnp.max(jnp.abs(ref)))
      np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5 * scale_of, err_msg=name)


def test_the_kernels_are_the_ones_compiled(monkeypatch):
  """On the CPU the compiled program calls the kernels, and with the opt-out it calls none."""
  x = jnp.ones((8, 4, 4, 16))
  residual = jnp.zeros_like(x)

  def targets():
    def step(x, scale, bias, residual):  # a new function each time: jit's trace cache does not see the variable
      return jax.grad(lambda *a: jnp.sum(fused.batch_norm_relu(*a)[0]), argnums=(0, 1, 2, 3))(x, scale, bias, residual)
    hlo = jax.jit(step).lower(x, jnp.ones(16), jnp.zeros(16), residual).as_text()
    return {target for target in batch_norm.TARGETS.values() if re.search(rf"\b{target}\b", hlo)}

  assert targets() == {batch_norm.TARGETS[kind] for kind in
                       ("sums", "normalize_add_relu", "grad_sums", "input_grad_residual")}
  monkeypatch.setenv(batch_norm.DISABLE_ENV, "0")
  assert targets() == set()
