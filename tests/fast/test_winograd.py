"""cnnjax's Winograd convolutions (cnnjax/kernels/winograd_avx2.h): which shapes take them, and that they equal lax's.

The kernel needs AVX2 and FMA; without them every convolution is direct and `winograd_status()` says why. The
tests hold either way: they ask the library how many calls ran Winograd (`call_totals`), expect that many where
the status is "on" and none where it is off, and check values and gradients against lax either way, to the same
rounding bound as the direct convolutions (tests/fast/test_onednn_conv.py). The same kernel runs with or without
AVX-512, so `ONEDNN_MAX_CPU_ISA=AVX2` changes only the direct convolutions around it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.fast import blocks
from cnnjax.kernels import onednn
from tests.layers.parity import assert_sums_close, conv_term_sums

NHWC = ("NHWC", "HWIO", "NHWC")
SAME = ((1, 1), (1, 1))
# (batch, height, width, C_in, C_out, bias): 3x3 stride-1 shapes where Winograd pays: ResNet-20's stages 1 and 2,
# VGG's widening with a bias, maps that its 4x4 tiles do not divide (5x5, 9x7), and 70 images of 8x8 = 280 tiles
# (four full blocks of 64 and a partial one)
PAYS = [(2, 12, 12, 16, 16, False), (3, 16, 16, 32, 32, False), (2, 8, 8, 64, 128, True), (2, 5, 5, 48, 32, False),
        (2, 9, 7, 32, 64, True), (70, 8, 8, 32, 32, False)]


@pytest.fixture(scope="module", autouse=True)
def library(onednn_library):
  """Every test here needs the oneDNN convolutions (tests/conftest.py)."""


def _winograd_calls(fn, *args) -> int:
  """How many of the oneDNN calls of fn(*args) ran Winograd."""
  before = onednn.call_totals()["winograd_calls"]
  jax.block_until_ready(fn(*args))
  return onednn.call_totals()["winograd_calls"] - before


def _available() -> bool:
  return onednn.winograd_status() == "on"


@pytest.mark.parametrize("case", PAYS, ids=str)
def test_values_and_gradients_match_lax(case):
  n, height, width, c_in, c_out, with_bias = case
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((n, height, width, c_in)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in), jnp.float32)
  b = jnp.asarray(rng.standard_normal((c_out,)), jnp.float32) if with_bias else None
  cotangent = jnp.asarray(rng.standard_normal((n, height, width, c_out)), jnp.float32)

  def loss(conv):
    return lambda x, k: jnp.sum(conv(x, k) * cotangent)

  ours = lambda x, k: onednn.conv2d(x, k, (1, 1), SAME, b, winograd=True)  # noqa: E731
  reference = lambda x, k: lax.conv_general_dilated(  # noqa: E731
      x, k, (1, 1), SAME, dimension_numbers=NHWC, precision=lax.Precision.HIGHEST) + (0 if b is None else b)
  step = jax.jit(lambda x, k: (ours(x, k), jax.grad(loss(ours), argnums=(0, 1))(x, k)))
  # forward, input gradient and (on maps of 8x8 or more: onednn_conv.cc's RunsWinograd) filter gradient
  assert _winograd_calls(step, x, k) == ((3 if min(height, width) >= 8 else 2) if _available() else 0)
  y, grads = step(x, k)
  want = (reference(x, k), *jax.grad(loss(reference), argnums=(0, 1))(x, k))
  for what, got, expected, (sums, terms) in zip(("y", "dx", "dk"), (y, *grads), want,
                                                conv_term_sums(x, k, cotangent, (1, 1), SAME)):
    if what == "y" and b is not None:
      sums, terms = sums + jnp.abs(b), terms + 1
    assert_sums_close(got, expected, sums, terms, what)


@pytest.mark.parametrize("why, shape, kernel, strides", [
    ("2x2 maps", (2, 2, 2, 64), (3, 3, 64, 64), (1, 1)),
    ("stride 2", (2, 16, 16, 32), (3, 3, 32, 32), (2, 2)),
    ("1x1 kernel", (2, 8, 8, 64), (1, 1, 64, 64), (1, 1)),
    ("24 channels", (2, 8, 8, 24), (3, 3, 24, 32), (1, 1)),
])
def test_shapes_where_it_does_not_pay_or_cannot_run_stay_direct(why, shape, kernel, strides):
  x, k = jnp.ones(shape), jnp.ones(kernel) / 100
  padding = ((kernel[0] // 2,) * 2, (kernel[1] // 2,) * 2)
  assert _winograd_calls(jax.jit(lambda x, k: onednn.conv2d(x, k, strides, padding, winograd=True)), x, k) == 0, why
  always = jax.jit(lambda x, k: onednn.conv2d(x, k, strides, padding, winograd=onednn.WINOGRAD_ALWAYS))
  # the benchmark's forced Winograd takes 2x2 maps (values not compared: a 2x2 map's filter gradient sums only 8
  # products per image, too short a sum for the rounding bound to cover the transforms), never the others
  assert _winograd_calls(always, x, k) == (1 if why == "2x2 maps" and _available() else 0), why


def test_gradients_are_the_same_bits_every_call():
  """The filter gradient sums its blocks of tiles per thread in a fixed order: a resumed run must reproduce an
  uninterrupted one bit for bit (tests/train/test_detection_runs.py resumes one)."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((70, 8, 8, 32)), jnp.float32)  # 280 tiles: five blocks over the threads
  cotangent = jnp.asarray(rng.standard_normal((70, 8, 8, 32)), jnp.float32)
  filter_grad = jax.jit(lambda x, dy: onednn.filter_grad(x, dy, (3, 3, 32, 32), (1, 1), SAME, True))
  first = np.asarray(filter_grad(x, cotangent))
  for _ in range(10):
    np.testing.assert_array_equal(np.asarray(filter_grad(x, cotangent)), first)


def test_the_environment_and_false_keep_it_direct(monkeypatch):
  x, k = jnp.ones((2, 8, 8, 32)), jnp.ones((3, 3, 32, 32)) / 100
  assert _winograd_calls(jax.jit(lambda x, k: onednn.conv2d(x, k, (1, 1), SAME, winograd=False)), x, k) == 0
  monkeypatch.setenv(onednn.WINOGRAD_ENV, "0")
  assert onednn.winograd_status() == "off: CNNJAX_WINOGRAD=0"
  assert blocks.choose("auto").describe()["winograd_convolutions"] == "off: CNNJAX_WINOGRAD=0"
  assert "winograd = 0" in jax.jit(lambda x, k: onednn.conv2d(x, k, (1, 1), SAME)).lower(x, k).as_text()
  assert _winograd_calls(jax.jit(lambda x, k: onednn.conv2d(x, k, (1, 1), SAME)), x, k) == 0
  monkeypatch.delenv(onednn.WINOGRAD_ENV)
  status = onednn.winograd_status()
  assert status == "on" or status.startswith("off: this CPU has no AVX2"), status
  assert blocks.choose("auto").describe()["winograd_convolutions"] == status
  assert blocks.choose("off").describe()["winograd_convolutions"] == "off: fast_paths=off"


def test_an_unknown_mode_is_refused():
  with pytest.raises(ValueError, match="winograd=3"):
    onednn.conv2d(jnp.ones((1, 4, 4, 32)), jnp.ones((3, 3, 32, 32)), (1, 1), SAME, winograd=3)


SHARDED_CHECK = """
import jax, jax.numpy as jnp, numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from cnnjax.kernels import onednn
assert onednn.unavailable_reason() is None  # loads the library and registers its calls
rng = np.random.default_rng(0)
x = jnp.asarray(rng.standard_normal((4, 8, 8, 32)), jnp.float32)
k = jnp.asarray(rng.standard_normal((3, 3, 32, 32)) / np.sqrt(9 * 32), jnp.float32)
pad = ((1, 1), (1, 1))
def loss(conv):
  return jax.jit(jax.value_and_grad(lambda x, k: jnp.sum(jnp.square(conv(x, k))), argnums=(0, 1)))
ours = loss(lambda x, k: onednn.conv2d(x, k, (1, 1), pad, winograd=True))
reference = loss(lambda x, k: lax.conv_general_dilated(x, k, (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                        precision=lax.Precision.HIGHEST))
mesh = Mesh(np.array(jax.devices()), ("data",))
sharded_x = jax.device_put(x, NamedSharding(mesh, P("data")))
assert "all-gather" not in ours.lower(sharded_x, k).compile().as_text()
before = onednn.call_totals()["winograd_calls"]
value, grads = jax.block_until_ready(ours(sharded_x, k))
calls = onednn.call_totals()["winograd_calls"] - before
value_ref, grads_ref = reference(x, k)
np.testing.assert_allclose(value, value_ref, rtol=1e-5)
for got, want in zip(grads, grads_ref):
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(want))))
print("ok", jax.device_count(), calls, onednn.winograd_status() == "on")
"""


def test_two_devices_run_winograd_on_their_halves_of_the_batch(run_with_devices):
  """Under the sharding rule each device runs the Winograd calls on its examples (3 calls each, 2 devices)."""
  ok, devices, calls, available = run_with_devices(SHARDED_CHECK, 2).split()
  assert (ok, devices) == ("ok", "2")
  assert int(calls) == (6 if available == "True" else 0)
