"""cnnjax's AVX2 Winograd kernel (cnnjax/kernels/winograd_avx2.h), on any CPU with AVX2 and FMA.

It runs where this CPU's oneDNN has no Winograd. `ONEDNN_MAX_CPU_ISA=AVX2` takes oneDNN's away on an AVX-512
machine too, so each check runs in a fresh Python with that cap: values and gradients (with and without bias)
against lax to the direct algorithm's rounding bound (tests/layers/parity.py), on maps that are and are not
multiples of its 4x4 tiles and batches that leave a partial block of tiles; how many calls it ran; and the
shapes it leaves to oneDNN's direct convolutions.
"""

import json
from pathlib import Path

import pytest

CPU_FLAGS = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
pytestmark = pytest.mark.skipif(not ({"avx2", "fma"} <= set(CPU_FLAGS.split())), reason="needs AVX2 and FMA")
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2"}

CHECK = """
import json
import jax, jax.numpy as jnp, numpy as np
from jax import lax
from cnnjax.kernels import onednn
from tests.layers.parity import assert_sums_close, conv_term_sums
assert onednn.unavailable_reason() is None
SAME = ((1, 1), (1, 1))
CASES = {cases}

def calls(fn, *args):
  before = onednn.call_totals()["winograd_calls"]
  jax.block_until_ready(fn(*args))
  return onednn.call_totals()["winograd_calls"] - before

out = {{"status": onednn.winograd_status(), "calls": []}}
rng = np.random.default_rng(0)
for n, height, width, c_in, c_out, with_bias, mode, compare in CASES:
  x = jnp.asarray(rng.standard_normal((n, height, width, c_in)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in), jnp.float32)
  b = jnp.asarray(rng.standard_normal((c_out,)), jnp.float32) if with_bias else None
  cotangent = jnp.asarray(rng.standard_normal((n, height, width, c_out)), jnp.float32)
  ours = lambda x, k: onednn.conv2d(x, k, (1, 1), SAME, b, winograd=mode)
  reference = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), SAME, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                    precision=lax.Precision.HIGHEST) + (0 if b is None else b)
  loss = lambda conv: (lambda x, k: jnp.sum(conv(x, k) * cotangent))
  step = jax.jit(lambda x, k: (ours(x, k), jax.grad(loss(ours), argnums=(0, 1))(x, k)))
  out["calls"].append(calls(step, x, k))
  if not compare:
    continue
  y, grads = step(x, k)
  want = (reference(x, k), *jax.grad(loss(reference), argnums=(0, 1))(x, k))
  for what, got, expected, (sums, terms) in zip(("y", "dx", "dk"), (y, *grads), want,
                                                conv_term_sums(x, k, cotangent, (1, 1), SAME)):
    if what == "y" and b is not None:
      sums, terms = sums + jnp.abs(b), terms + 1
    assert_sums_close(got, expected, sums, terms, f"{{what}} of {{(n, height, width, c_in, c_out)}}")
print(json.dumps(out))
"""


def _check(run_with_devices, cases) -> dict:
  return json.loads(run_with_devices(CHECK.format(cases=cases), 1, env=AVX2_ONLY).splitlines()[-1])


def test_values_and_gradients_match_lax_where_it_pays(run_with_devices):
  # (batch, height, width, C_in, C_out, bias, winograd, compare with lax): ResNet-20's stages 1 and 2; VGG's
  # widening with a bias; maps of 5x5 and 9x7 (partial tiles); 70 images of 8x8 = 280 tiles (four full blocks of
  # 64 and a partial one)
  cases = [(2, 12, 12, 16, 16, False, True, True), (3, 16, 16, 32, 32, False, True, True),
           (2, 8, 8, 64, 128, True, True, True), (2, 5, 5, 48, 32, False, True, True),
           (2, 9, 7, 32, 64, True, True, True), (70, 8, 8, 32, 32, False, True, True)]
  result = _check(run_with_devices, cases)
  assert result["status"].startswith("on: cnnjax's AVX2 Winograd"), result["status"]
  assert result["calls"] == [3] * len(cases)  # forward, input gradient and filter gradient each


def test_2x2_maps_stay_direct_unless_forced(run_with_devices):
  # WINOGRAD_ALWAYS (2, for the benchmark) takes them; not compared: a 2x2 map's filter gradient sums 8 products
  # per image, and the transforms' rounding is not held to so short a sum's bound
  cases = [(2, 2, 2, 64, 64, False, True, True), (2, 2, 2, 64, 64, False, 2, False)]
  assert _check(run_with_devices, cases)["calls"] == [0, 3]


def test_channels_it_cannot_take_stay_direct(run_with_devices):
  # 24 input channels (not a multiple of 16): oneDNN's direct convolution, even when forced
  assert _check(run_with_devices, [(2, 8, 8, 24, 32, False, 2, True)])["calls"] == [0]
