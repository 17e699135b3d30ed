"""cnnjax.kernels.max_pool and cnnjax.fast.max_pool: the CPU kernel gives cnnjax.layers.max_pool's values and gradient.

Why: models that get the fast paths pool through this kernel on every CPU run; its values and
gradients (ties sharing their window's gradient, as JAX's max does) must equal the plain layer's,
itself checked against torch in tests/layers/test_pooling.py, on one thread and on several.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.fast import blocks, max_pool as fast
from cnnjax.kernels import max_pool as kernels
from cnnjax.layers import max_pool
from cnnjax.models import lenet
from tests.conftest import require_kernels


@pytest.fixture(scope="module", autouse=True)
def library():
  require_kernels("max-pool kernels", kernels.unavailable_reason())


def _value_and_grad(pool, x, cotangent, *args):
  def run(x):
    y, vjp = jax.vjp(lambda x: pool(x, *args), x)
    return y, vjp(cotangent)[0]
  return jax.jit(run)(x)


@pytest.mark.parametrize("shape, args", [
    ((2, 4, 6, 3), (2, 2)),            # small: one thread
    ((16, 28, 28, 24), (2, 2)),        # several threads
    ((4, 9, 12, 5), ((3, 2), None)),   # a 3x2 window, stride = window
    ((3, 7, 7, 4), (2, 2)),            # floor mode crops the last row and column
    ((2, 8, 8, 600), (2, 2)),          # more channels than the kernel's block of 512
])
def test_kernel_equals_the_plain_layer(shape, args):
  rng = np.random.default_rng(0)
  x = rng.standard_normal(shape).astype(np.float32)
  x[0, :2, :2, 0] = 1.5  # a window whose four positions tie: they share its gradient
  out_shape = jax.eval_shape(lambda x: max_pool(x, *args), x).shape
  cotangent = rng.standard_normal(out_shape).astype(np.float32)
  y, gx = _value_and_grad(fast.max_pool, x, cotangent, *args)
  y_ref, gx_ref = _value_and_grad(max_pool, x, cotangent, *args)
  np.testing.assert_array_equal(y, y_ref)
  np.testing.assert_array_equal(gx, gx_ref)
  assert float(gx[0, 0, 0, 0]) == pytest.approx(cotangent[0, 0, 0, 0] / 4)


def test_the_kernel_is_what_compiles_where_it_applies():
  def targets(pool, x, *args):
    hlo = jax.jit(jax.grad(lambda x: jnp.sum(pool(x, *args)))).lower(x).as_text()
    return {t for t in kernels.TARGETS.values() if re.search(rf"\b{t}\b", hlo)}

  x = jnp.ones((2, 8, 8, 3))
  assert targets(fast.max_pool, x, 2, 2) == set(kernels.TARGETS.values())
  assert targets(fast.max_pool, x, 3, 2) == set()  # overlapping windows: the plain layer
  assert targets(fast.max_pool, x.astype(jnp.bfloat16), 2, 2) == set()
  assert targets(max_pool, x, 2, 2) == set()


def test_the_fast_paths_give_it_to_lenet(monkeypatch):
  paths = blocks.choose("auto", "cpu")
  assert paths.max_pool_kernels == "on"
  model = paths.apply(lenet.lenet5(), "lenet5")
  assert model.max_pool is fast.max_pool and paths.describe(model)["max_pool"] == "max_pool(kernels.max_pool)"
  assert blocks.choose("off").apply(lenet.lenet5(), "lenet5").max_pool is max_pool
  monkeypatch.setenv(kernels.DISABLE_ENV, "0")
  off = blocks.choose("auto", "cpu")
  assert off.max_pool_kernels == f"off: {kernels.DISABLE_ENV}=0"
  assert off.apply(lenet.lenet5(), "lenet5").max_pool is max_pool
