"""cnnjax.fast.conv.Conv: nn.Conv's variables and values, with the bias added (and differentiated) inside oneDNN.

Why: the fast paths give this module to every model's `conv` field on the CPU; it must be nn.Conv to
the checkpoint and to float32 rounding, and hand every configuration oneDNN does not take to nn.Conv.
"""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.fast import conv, onednn_conv, small_map_conv
from cnnjax.kernels import onednn
from tests.layers.parity import assert_sums_close, conv_term_sums

BIAS_CALLS = {onednn.TARGETS["forward_bias"], onednn.TARGETS["filter_grad_bias"]}


@pytest.fixture(scope="module", autouse=True)
def library(onednn_library):
  """Every test here needs the oneDNN convolutions (tests/conftest.py)."""


def _modules(**kwargs):
  fast = conv.Conv(conv_general_dilated=onednn_conv.conv_general_dilated, **kwargs)
  return fast, nn.Conv(**kwargs)


def _targets(module, variables, x) -> set[str]:
  def loss(variables, x):
    return jnp.sum(jnp.square(module.apply(variables, x)))  # needs the output: the forward call stays
  hlo = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(variables, x).as_text()
  return {t for t in onednn.TARGETS.values() if re.search(rf"\b{t}\b", hlo)}


@pytest.mark.parametrize("kwargs, shape", [
    ({"features": 6, "kernel_size": (5, 5), "padding": 2}, (8, 12, 12, 1)),            # LeNet's first layer
    ({"features": 16, "kernel_size": (3, 3), "strides": 2, "padding": "SAME"}, (4, 9, 9, 5)),
    ({"features": 8, "kernel_size": (1, 1), "padding": "VALID"}, (2, 6, 6, 16)),
])
def test_same_variables_values_and_gradients_as_nn_conv(kwargs, shape):
  fast, plain = _modules(**kwargs)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
  variables = plain.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, fast.init(jax.random.key(0), x)) == jax.tree.map(jnp.shape, variables)
  assert jax.tree.all(jax.tree.map(jnp.array_equal, fast.init(jax.random.key(0), x), variables))  # same initialisers
  variables = {"params": {"kernel": variables["params"]["kernel"],
                          "bias": jnp.asarray(rng.standard_normal(kwargs["features"]), jnp.float32)}}
  y, y_ref = fast.apply(variables, x), plain.apply(variables, x)
  cotangent = jnp.asarray(rng.standard_normal(y_ref.shape), jnp.float32)

  def grads(module):
    return jax.jit(jax.grad(lambda v, x: jnp.sum(module.apply(v, x) * cotangent), argnums=(0, 1)))(variables, x)

  (g_vars, g_x), (g_vars_ref, g_x_ref) = grads(fast), grads(plain)
  strides = (kwargs.get("strides", 1),) * 2
  padding = kwargs["padding"] if isinstance(kwargs["padding"], str) else ((kwargs["padding"],) * 2,) * 2
  term_sums = conv_term_sums(x, variables["params"]["kernel"], cotangent, strides, padding)
  for what, got, want, (sums, terms) in zip(("y", "dx", "dk"), (y - variables["params"]["bias"], g_x,
                                                                 g_vars["params"]["kernel"]),
                                            (y_ref - variables["params"]["bias"], g_x_ref,
                                             g_vars_ref["params"]["kernel"]), term_sums):
    assert_sums_close(got, want, sums, terms, what)
  np.testing.assert_allclose(g_vars["params"]["bias"], jnp.sum(cotangent, axis=(0, 1, 2)), rtol=2e-5, atol=1e-5)
  assert _targets(fast, variables, x) >= BIAS_CALLS  # the bias went into oneDNN, both ways


@pytest.mark.parametrize("why, kwargs, x", [
    ("no bias", {"use_bias": False}, jnp.ones((2, 6, 6, 3))),
    ("bfloat16", {"dtype": jnp.bfloat16}, jnp.ones((2, 6, 6, 3))),
    ("groups", {"feature_group_count": 3}, jnp.ones((2, 6, 6, 3))),
    ("dilation", {"kernel_dilation": 2}, jnp.ones((2, 6, 6, 3))),
    ("circular padding", {"padding": "CIRCULAR"}, jnp.ones((2, 6, 6, 3))),
    ("1-D", {"kernel_size": (3,)}, jnp.ones((2, 6, 3))),
])
def test_other_configurations_are_nn_convs_own(why, kwargs, x):
  arguments = {"features": 6, "kernel_size": (3, 3), "padding": 1, **kwargs}
  fast, plain = _modules(**arguments)
  variables = plain.init(jax.random.key(0), x)
  np.testing.assert_allclose(fast.apply(variables, x), plain.apply(variables, x), rtol=1e-2 if "bfloat16" in why
                             else 1e-5, atol=1e-5, err_msg=why)
  assert not _targets(fast, variables, x) & BIAS_CALLS, why


def test_small_map_convolutions_stay_slices_and_a_matmul():
  """VGG's 2x2 maps: small_map_conv keeps them, bias added by flax; larger maps take the oneDNN bias path."""
  small = conv.Conv(6, (3, 3), padding=1, conv_general_dilated=small_map_conv.conv_general_dilated)
  x = jnp.ones((2, 2, 2, 4))
  variables = small.init(jax.random.key(0), x)
  assert not _targets(small, variables, x)
  x = jnp.ones((2, 8, 8, 4))
  assert _targets(small, small.init(jax.random.key(0), x), x) >= BIAS_CALLS


SHARDED_CHECK = """
import jax, jax.numpy as jnp, numpy as np, flax.linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from cnnjax.fast import conv, onednn_conv
fast = conv.Conv(6, (3, 3), padding=1, conv_general_dilated=onednn_conv.conv_general_dilated)
plain = nn.Conv(6, (3, 3), padding=1)
x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 6, 6, 3)), jnp.float32)
variables = plain.init(jax.random.key(0), x)
variables = {"params": {**variables["params"], "bias": jnp.arange(6, dtype=jnp.float32)}}
def loss(module):
  return jax.jit(jax.value_and_grad(lambda v, x: jnp.sum(jnp.square(module.apply(v, x)))))
mesh = Mesh(np.array(jax.devices()), ("data",))
sharded_x = jax.device_put(x, NamedSharding(mesh, P("data")))
value, grads = loss(fast)(variables, sharded_x)
value_ref, grads_ref = loss(plain)(variables, x)
hlo = loss(fast).lower(variables, sharded_x).compile().as_text()
assert "CnnjaxConvFilterGradBias" in hlo and "all-gather" not in hlo, "the bias path must run sharded"
np.testing.assert_allclose(value, value_ref, rtol=1e-5)
for ours, ref in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_ref)):
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)
print("ok", jax.device_count())
"""


def test_two_devices_split_the_batch_and_sum_the_bias_gradient(run_with_devices):
  """The sharded bias calls: each device convolves its examples; kernel and bias gradients are summed over both."""
  assert run_with_devices(SHARDED_CHECK, 2).split() == ["ok", "2"]
