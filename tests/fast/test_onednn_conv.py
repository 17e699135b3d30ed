"""cnnjax.kernels.onednn and the onednn_conv dispatcher: oneDNN convolutions equal lax's, values and gradients.

Equal to float32 rounding: the two libraries add each output's terms in different orders, so they are
compared element by element against the bound on two such sums (tests/layers/parity.py:
2 x 8 sqrt(K) u x the sum of the terms' magnitudes).

The library is built by scripts/setup.sh (which CI runs); where it cannot be built these tests skip,
except under CI, where a missing library is a failure (the speed claims of the README rest on it).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax.analysis import count_multiply_adds
from cnnjax.kernels import build, onednn
from cnnjax.fast import blocks, onednn_conv
from cnnjax.models import get_model
from tests.layers.parity import assert_sums_close, conv_term_sums

NHWC = ("NHWC", "HWIO", "NHWC")
# (batch, height, width, C_in, C_out, kernel, stride, padding): stride 2 on odd sizes and a 7x7/2 stem
# floor like torch; asymmetric padding; one input channel (LeNet); 1x1 projections.
CASES = [
    (2, 8, 8, 3, 4, (3, 3), (1, 1), ((1, 1), (1, 1))),
    (3, 9, 7, 5, 6, (3, 3), (2, 2), ((1, 1), (1, 1))),
    (2, 15, 15, 3, 8, (7, 7), (2, 2), ((3, 3), (3, 3))),
    (4, 12, 12, 1, 6, (5, 5), (1, 1), ((2, 2), (2, 2))),
    (2, 10, 10, 6, 16, (5, 5), (1, 1), ((0, 0), (0, 0))),
    (2, 8, 8, 16, 32, (1, 1), (2, 2), ((0, 0), (0, 0))),
    (1, 6, 9, 4, 5, (2, 3), (1, 2), ((0, 1), (2, 0))),
    (2, 5, 5, 8, 8, (3, 3), (1, 1), "SAME"),
]


@pytest.fixture(scope="module", autouse=True)
def library(onednn_library):
  """Every test here needs the oneDNN convolutions (tests/conftest.py)."""


def _inputs(case, seed=0):
  n, h, w, c_in, c_out, kernel, *_ = case
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((n, h, w, c_in)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((*kernel, c_in, c_out)) / np.sqrt(c_in * np.prod(kernel)), jnp.float32)
  return x, k


@pytest.mark.parametrize("case", CASES, ids=str)
def test_values_and_gradients_match_lax(case):
  *_, strides, padding = case
  x, k = _inputs(case)
  ours = lambda x, k: onednn_conv.conv_general_dilated(x, k, strides, padding, dimension_numbers=NHWC)
  reference = lambda x, k: lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=NHWC,
                                                    precision=lax.Precision.HIGHEST)
  assert onednn_conv.uses_onednn(x, k, strides, padding, dimension_numbers=NHWC)
  y, y_ref = jax.jit(ours)(x, k), reference(x, k)
  cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(y_ref.shape), jnp.float32)
  grads = jax.jit(jax.grad(lambda x, k: jnp.sum(ours(x, k) * cotangent), argnums=(0, 1)))(x, k)
  grads_ref = jax.grad(lambda x, k: jnp.sum(reference(x, k) * cotangent), argnums=(0, 1))(x, k)
  term_sums = conv_term_sums(x, k, cotangent, strides, padding)
  for what, got, want, (sums, terms) in zip(("y", "dx", "dk"), (y, *grads), (y_ref, *grads_ref), term_sums):
    assert_sums_close(got, want, sums, terms, what)


def test_batched_with_vmap():
  x, k = _inputs(CASES[0])
  stacked = jnp.stack([x, 2 * x])
  conv = lambda x: onednn.conv2d(x, k, (1, 1), ((1, 1), (1, 1)))
  (sums, terms), _, _ = conv_term_sums(2 * x, k, conv(x), (1, 1), ((1, 1), (1, 1)))
  assert_sums_close(jax.vmap(conv)(stacked)[1], 2 * conv(x), sums, terms)  # oneDNN may block a batch of 2 x N otherwise


@pytest.mark.parametrize("why, kwargs", [
    ("bfloat16", {"dtype": jnp.bfloat16}),
    ("groups", {"feature_group_count": 2}),
    ("dilation", {"rhs_dilation": (2, 2)}),
    ("input dilation (transpose convolution)", {"lhs_dilation": (2, 2)}),
    ("negative padding", {"padding": ((-1, 0), (0, 0))}),
])
def test_other_convolutions_go_to_lax_unchanged(why, kwargs):
  kwargs = dict(kwargs)
  dtype = kwargs.pop("dtype", jnp.float32)
  groups = kwargs.get("feature_group_count", 1)
  padding = kwargs.pop("padding", ((1, 1), (1, 1)))
  x = jnp.ones((2, 8, 8, 4), dtype)
  k = jnp.ones((3, 3, 4 // groups, 4), dtype)
  assert not onednn_conv.uses_onednn(x, k, (1, 1), padding, dimension_numbers=NHWC, **kwargs), why
  got = onednn_conv.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=NHWC, **kwargs)
  want = lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=NHWC, **kwargs)
  np.testing.assert_array_equal(got, want)
  assert "ffi_call" not in str(jax.make_jaxpr(
      lambda x, k: onednn_conv.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=NHWC, **kwargs))(x, k))


def test_switched_off_with_the_environment(monkeypatch):
  monkeypatch.setenv(onednn.DISABLE_ENV, "0")
  assert onednn_conv.onednn_status() == "off: CNNJAX_ONEDNN=0"
  x, k = _inputs(CASES[0])
  assert "ffi_call" not in str(jax.make_jaxpr(
      lambda x, k: onednn_conv.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC))(x, k))


@pytest.mark.parametrize("name, input_shape", [("cifar_resnet20", (1, 32, 32, 3)), ("lenet5", (1, 28, 28, 1)),
                                               ("resnet18", (1, 64, 64, 3))])
def test_multiply_adds_are_counted_through_onednn(name, input_shape):
  """A model with the fast blocks counts the same multiply-adds as the plain model, and only it calls oneDNN."""
  plain = get_model(name, num_classes=10)
  fast = blocks.choose("auto").apply(plain, name)
  init_jaxpr = lambda model: str(jax.make_jaxpr(lambda x: model.init(jax.random.key(0), x))(jnp.zeros(input_shape)))
  assert "ffi_call" in init_jaxpr(fast) and "ffi_call" not in init_jaxpr(plain)
  assert count_multiply_adds(fast, input_shape, train=False) == count_multiply_adds(plain, input_shape, train=False)


def test_build_names_what_is_missing(monkeypatch, tmp_path):
  monkeypatch.setattr(build.shutil, "which", lambda name: None)
  assert "apt-get install g++ libdnnl-dev" in build.build(tmp_path / "lib.so")
  assert not (tmp_path / "lib.so").exists()


def test_concurrent_calls_from_xla_threads():
  """Independent convolutions in one program may start on several XLA threads at once; all stay correct.

  oneDNN's library-managed scratchpad is unsafe once primitives move between threads, as XLA's calls
  do (a worker crashed once in the suite); the kernels run one convolution at a time, with their own
  scratchpad (and the Winograd kernel's buffer: the (64, 64, 8) branch) used only under that lock.
  """
  rng = np.random.default_rng(3)
  # (C_in, C_out, map size): ResNet-101's late stages on a small input (many channels, 1x1 and 2x2 maps,
  # whose filter gradients reduce over threads in scratchpad memory) next to wide early ones
  branches = [(256, 256, 2), (512, 128, 1), (128, 512, 1), (64, 64, 8), (16, 32, 16), (1024, 64, 1)]
  xs = [jnp.asarray(rng.standard_normal((4, size, size, c_in)), jnp.float32) for c_in, _, size in branches]
  ks = [jnp.asarray(rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in), jnp.float32)
        for c_in, c_out, _ in branches]
  cotangents = [jnp.asarray(rng.standard_normal((4, size, size, c_out)), jnp.float32) for _, c_out, size in branches]

  def values_and_gradients(conv):
    def run(xs, ks):  # every forward, input-gradient and filter-gradient convolution in one program
      ys, vjp = jax.vjp(lambda xs, ks: [conv(x, k) for x, k in zip(xs, ks)], xs, ks)
      return ys, vjp(cotangents)
    return run

  ours = jax.jit(values_and_gradients(lambda x, k: onednn_conv.conv_general_dilated(
      x, k, (1, 1), "SAME", dimension_numbers=NHWC)))
  want = values_and_gradients(lambda x, k: lax.conv_general_dilated(
      x, k, (1, 1), "SAME", dimension_numbers=NHWC, precision=lax.Precision.HIGHEST))(xs, ks)
  bounds = [conv_term_sums(x, k, c, (1, 1), "SAME") for x, k, c in zip(xs, ks, cotangents)]
  for _ in range(30):
    ys, (dxs, dks) = ours(xs, ks)
    for i, bound in enumerate(bounds):
      for what, got, expected, (sums, terms) in zip(("y", "dx", "dk"), (ys[i], dxs[i], dks[i]),
                                                    (want[0][i], want[1][0][i], want[1][1][i]), bound):
        assert_sums_close(got, expected, sums, terms, f"branch {branches[i]} {what}")


def test_call_totals_count_each_convolution_and_its_time():
  """benchmarks/step_floor.py reads these around steps: one forward, input-gradient and filter-gradient call each."""
  case = CASES[0]
  *_, strides, padding = case
  x, k = _inputs(case)
  grad = jax.jit(jax.grad(lambda x, k: jnp.sum(onednn_conv.conv_general_dilated(
      x, k, strides, padding, dimension_numbers=NHWC) ** 2), argnums=(0, 1)))
  jax.block_until_ready(grad(x, k))  # compiles
  before = onednn.call_totals()
  jax.block_until_ready(grad(x, k))
  after = onednn.call_totals()
  assert after["calls"] - before["calls"] == 3
  assert 0 < after["seconds"] - before["seconds"] < 10
  assert 0 <= after["thread_changes"] - before["thread_changes"] <= 3
