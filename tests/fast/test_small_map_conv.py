"""cnnjax.fast.small_map_conv: slices + matmul on tiny maps equal lax's convolution, values and gradients.

Equal to float32 rounding, element by element: both add the same products in different orders
(tests/layers/parity.py: 2 x 8 sqrt(K) u x the sum of the terms' magnitudes).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.fast import onednn_conv, small_map_conv
from tests.layers.parity import assert_sums_close, conv_term_sums

DN = ("NHWC", "HWIO", "NHWC")


def _primitives(fn, *args) -> set[str]:
  return {eqn.primitive.name for eqn in jax.make_jaxpr(fn)(*args).eqns}


@pytest.mark.parametrize("size, kernel, padding", [(2, 3, ((1, 1), (1, 1))), (1, 3, ((1, 1), (1, 1))),
                                                   (2, 3, "SAME"), (3, 2, ((0, 0), (0, 0))), (2, 1, ((0, 0), (0, 0)))])
def test_matches_lax_values_and_gradients(size, kernel, padding):
  x = jax.random.normal(jax.random.key(0), (5, size, size, 7))
  k = jax.random.normal(jax.random.key(1), (kernel, kernel, 7, 6))

  def ours(x, k):
    return small_map_conv.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=DN)

  def theirs(x, k):
    return lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=DN)

  assert "conv_general_dilated" not in _primitives(ours, x, k)  # the matmul path was taken
  probe = jax.random.normal(jax.random.key(2), theirs(x, k).shape)
  grad = lambda f: jax.grad(lambda x, k: jnp.sum(f(x, k) * probe), argnums=(0, 1))(x, k)  # noqa: E731
  term_sums = conv_term_sums(x, k, probe, (1, 1), padding)
  for what, a, b, (sums, terms) in zip(("y", "dx", "dk"), (ours(x, k), *grad(ours)), (theirs(x, k), *grad(theirs)),
                                       term_sums):
    assert_sums_close(a, b, sums, terms, what)


@pytest.mark.parametrize("shape, strides, groups", [((2, 4, 4, 8), (1, 1), 1), ((2, 2, 2, 8), (2, 2), 1),
                                                    ((2, 2, 2, 8), (1, 1), 2)])
def test_falls_back_to_cpu_conv(shape, strides, groups):
  """Larger maps (4x4 = 16 positions), strides and groups go to onednn_conv (oneDNN on one CPU, else lax)."""
  x = jax.random.normal(jax.random.key(0), shape)
  k = jax.random.normal(jax.random.key(1), (3, 3, shape[-1] // groups, 8))
  args = (x, k, strides, ((1, 1), (1, 1)))
  kwargs = {"dimension_numbers": DN, "feature_group_count": groups}
  ours = lambda x, k: small_map_conv.conv_general_dilated(x, k, *args[2:], **kwargs)  # noqa: E731
  fallback = lambda x, k: onednn_conv.conv_general_dilated(x, k, *args[2:], **kwargs)  # noqa: E731
  assert _primitives(ours, x, k) == _primitives(fallback, x, k)
  assert "dot_general" not in _primitives(ours, x, k)  # not the matmul path
  (sums, terms), _, _ = conv_term_sums(x, k, jnp.zeros_like(fallback(x, k)), *args[2:], **kwargs)
  assert_sums_close(ours(x, k), lax.conv_general_dilated(*args, **kwargs), sums, terms)


def test_flax_conv_with_it_keeps_parameters_and_outputs():
  x = jax.random.normal(jax.random.key(0), (3, 2, 2, 16))
  plain = nn.Conv(32, (3, 3), padding=((1, 1), (1, 1)))
  small = nn.Conv(32, (3, 3), padding=((1, 1), (1, 1)), conv_general_dilated=small_map_conv.conv_general_dilated)
  variables = plain.init(jax.random.key(1), x)
  assert jax.tree.structure(small.init(jax.random.key(1), x)) == jax.tree.structure(variables)
  kernel = variables["params"]["kernel"]
  (sums, terms), _, _ = conv_term_sums(x, kernel, jnp.zeros((3, 2, 2, 32)), (1, 1), ((1, 1), (1, 1)))
  assert_sums_close(small.apply(variables, x), plain.apply(variables, x), sums, terms)  # + the same (zero) bias
