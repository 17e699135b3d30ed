"""Pooling and unpooling against torch.nn.functional (values, indices, gradients) and the lecture's examples."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import avg_pool, bed_of_nails_unpool, max_pool, max_pool_with_indices, max_unpool, nearest_unpool
from cnnjax.layers.pooling import adaptive_avg_pool
from tests.layers.parity import assert_close

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
F = torch.nn.functional


def value_and_vjp(f, x, seed):
  """f(x) and the vjp of a random cotangent (one jit compile: eager op-by-op dispatch is slow)."""
  cotangent = np.random.default_rng(seed).standard_normal(jax.eval_shape(f, x).shape, np.float32)

  def both(x, ct):
    y, vjp = jax.vjp(f, x)
    return y, vjp(ct)[0]

  y, grad = jax.jit(both)(jnp.asarray(x), jnp.asarray(cotangent))
  return y, grad, cotangent


def nchw(x):
  return torch.tensor(np.asarray(x)).permute(0, 3, 1, 2).contiguous()


def nhwc(t):
  return t.detach().permute(0, 2, 3, 1).numpy()


LECTURE = jnp.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]

POOL_SETTINGS = [  # shape, window, stride, padding, ceil_mode
    ((2, 8, 8, 3), 2, 2, 0, False),   # tiles: the reshape fast path
    ((2, 7, 9, 3), 2, 2, 0, False),   # does not tile: floor
    ((1, 7, 9, 2), 2, 2, 0, True),
    ((2, 9, 9, 3), 3, 2, 1, False),   # overlapping, padded (ResNet stem pool)
    ((1, 10, 10, 2), 3, 2, 0, True),  # GoogLeNet's ceil_mode pools
    ((1, 11, 8, 2), 3, 2, 1, True),
    ((1, 6, 6, 2), 3, 1, 1, False),   # Inception's pool branch
    ((1, 13, 13, 4), 3, 3, 0, False),
    ((1, 12, 11, 2), 3, 3, 1, False),  # padded, and the last row and column are never reached
]


@pytest.mark.parametrize("shape, window, stride, padding, ceil_mode", POOL_SETTINGS)
def test_max_pool_matches_torch_with_gradient(shape, window, stride, padding, ceil_mode):
  x = np.random.default_rng(0).standard_normal(shape, np.float32)
  y, grad, cotangent = value_and_vjp(lambda x: max_pool(x, window, stride, padding, ceil_mode), x, 1)
  xt = nchw(x).requires_grad_()
  ref = F.max_pool2d(xt, window, stride, padding, ceil_mode=ceil_mode)
  assert_close(y, nhwc(ref))
  ref.backward(nchw(cotangent))
  assert_close(grad, nhwc(xt.grad))


@pytest.mark.parametrize("shape, window, stride, padding, ceil_mode, count_include_pad", [
    (*setting, include) for setting in POOL_SETTINGS for include in (True, False)
    if include or setting[3] or setting[4]])  # count_include_pad matters only with padding or ceil_mode
def test_avg_pool_matches_torch(shape, window, stride, padding, ceil_mode, count_include_pad):
  x = np.random.default_rng(2).standard_normal(shape, np.float32)
  y = jax.jit(lambda x: avg_pool(x, window, stride, padding, ceil_mode, count_include_pad))(x)
  ref = F.avg_pool2d(nchw(x), window, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
  assert_close(y, nhwc(ref))


@pytest.mark.parametrize("shape, output_size", [
    ((2, 13, 9, 3), (7, 7)),  # VGG's pool to 7x7 from an uneven map: bins of 2-3 rows, overlapping
    ((2, 7, 7, 3), (7, 7)),   # the identity
    ((1, 5, 3, 2), (7, 7)),   # upsampling: bins of one row or column, repeated
    ((1, 6, 4, 2), (2, 3)),   # non-square output, exact and overlapping bins
    ((2, 9, 11, 4), (1, 1)),  # global average
    ((1, 13, 13, 2), (6, 6)),  # AlexNet's pool to 6x6
])
def test_adaptive_avg_pool_matches_torch_with_gradient(shape, output_size):
  x = np.random.default_rng(10).standard_normal(shape, np.float32)
  y, grad, cotangent = value_and_vjp(lambda x: adaptive_avg_pool(x, output_size), x, 11)
  xt = nchw(x).requires_grad_()
  ref = F.adaptive_avg_pool2d(xt, output_size)
  assert y.shape == (shape[0], *output_size, shape[3])
  assert_close(y, nhwc(ref))
  ref.backward(nchw(cotangent))
  assert_close(grad, nhwc(xt.grad))


@pytest.mark.parametrize("shape, window, stride, padding, ceil_mode", POOL_SETTINGS)
def test_max_pool_with_indices_matches_torch_return_indices(shape, window, stride, padding, ceil_mode):
  x = np.random.default_rng(3).standard_normal(shape, np.float32)
  y, indices = jax.jit(lambda x: max_pool_with_indices(x, window, stride, padding, ceil_mode))(x)
  ref, ref_indices = F.max_pool2d(nchw(x), window, stride, padding, ceil_mode=ceil_mode, return_indices=True)
  np.testing.assert_array_equal(np.asarray(y), nhwc(ref))
  np.testing.assert_array_equal(np.asarray(indices), nhwc(ref_indices))
  assert indices.dtype == jnp.int32


def test_max_pool_with_indices_first_maximum_wins_like_torch():
  x = np.array([[5.0, 5.0, 1.0, 2.0], [5.0, 0.0, 2.0, 2.0]], np.float32)[None, :, :, None]
  _, indices = max_pool_with_indices(jnp.asarray(x), 2, 2)
  _, ref = F.max_pool2d(nchw(x), 2, 2, return_indices=True)
  np.testing.assert_array_equal(np.asarray(indices)[0, :, :, 0], [[0, 3]])
  np.testing.assert_array_equal(np.asarray(indices), nhwc(ref))


@pytest.mark.parametrize("shape, window, stride, padding", [
    ((2, 8, 8, 3), 2, 2, 0), ((1, 7, 9, 2), 2, 2, 0), ((1, 9, 9, 2), 3, 2, 1), ((1, 12, 6, 3), 3, 3, 0)])
def test_max_unpool_matches_torch_with_gradient(shape, window, stride, padding):
  x = np.random.default_rng(4).standard_normal(shape, np.float32)
  pooled, indices = jax.jit(lambda x: max_pool_with_indices(x, window, stride, padding))(x)
  values = np.random.default_rng(5).standard_normal(pooled.shape, np.float32)
  out, grad, cotangent = value_and_vjp(lambda v: max_unpool(v, indices, shape[1:3]), values, 6)
  vt = nchw(values).requires_grad_()
  ref = F.max_unpool2d(vt, nchw(indices).long(), window, stride, padding, output_size=shape[1:3])
  np.testing.assert_array_equal(np.asarray(out), nhwc(ref))
  ref.backward(nchw(cotangent))
  np.testing.assert_array_equal(np.asarray(grad), nhwc(vt.grad))
  if window == stride and shape[1] % window == 0 and shape[2] % window == 0:
    fast, fast_grad, _ = value_and_vjp(lambda v: max_unpool(v, indices, shape, non_overlapping=True), values, 6)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(out))
    np.testing.assert_array_equal(np.asarray(fast_grad), nhwc(vt.grad))


def test_max_pool_with_indices_gradient_matches_torch():
  x = np.random.default_rng(7).standard_normal((1, 9, 9, 2), np.float32)
  _, grad, cotangent = value_and_vjp(lambda x: max_pool_with_indices(x, 3, 2, 1)[0], x, 8)
  xt = nchw(x).requires_grad_()
  F.max_pool2d(xt, 3, 2, 1).backward(nchw(cotangent))
  assert_close(grad, nhwc(xt.grad))


def test_pool_unpool_round_trip_keeps_the_maxima():
  x = jnp.asarray(np.random.default_rng(9).uniform(0.1, 1.0, (2, 4, 6, 3)).astype(np.float32))

  @jax.jit
  def round_trip(x):
    y, indices = max_pool_with_indices(x)
    restored = max_unpool(y, indices, (4, 6))
    return y, restored, max_pool(restored, 2)

  y, restored, pooled_again = round_trip(x)
  assert int(jnp.count_nonzero(restored)) == y.size
  np.testing.assert_array_equal(np.asarray(pooled_again), np.asarray(y))


def test_lecture_nearest_neighbour_unpooling():
  np.testing.assert_array_equal(np.asarray(nearest_unpool(LECTURE))[0, :, :, 0],
                                [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_lecture_bed_of_nails_unpooling():
  np.testing.assert_array_equal(np.asarray(bed_of_nails_unpool(LECTURE))[0, :, :, 0],
                                [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])


def test_unpooling_factor_three_and_channels():
  x = jnp.arange(8.0).reshape(1, 2, 2, 2)
  nearest, nails = nearest_unpool(x, 3), bed_of_nails_unpool(x, 3)
  assert nearest.shape == nails.shape == (1, 6, 6, 2)
  np.testing.assert_array_equal(np.asarray(nearest[0, 3:, :3, 1]), np.full((3, 3), 5.0))
  np.testing.assert_array_equal(np.asarray(nails[0, ::3, ::3]), np.asarray(x[0]))
  assert float(nails.sum()) == float(x.sum())


def test_pooling_errors_name_the_problem():
  with pytest.raises(ValueError, match="NHWC"):
    max_pool(jnp.zeros((4, 4, 1)), 2)
  with pytest.raises(ValueError, match="padding 2 must be at most half the window 3"):
    max_pool(jnp.zeros((1, 8, 8, 1)), 3, 1, 2)


@pytest.mark.parametrize("name, loss", [
    ("max_pool", lambda x: max_pool(x, 2, 2).sum()),
    ("max_pool_with_indices", lambda x: max_pool_with_indices(x, 2, 2)[0].sum()),
    ("max_pool_with_indices padded", lambda x: max_pool_with_indices(x, 3, 2, 1)[0].sum()),
    ("max_unpool non_overlapping",
     lambda x: (lambda y, i: max_unpool(y, i, (8, 8), non_overlapping=True).sum())(*max_pool_with_indices(x))),
])
def test_gradients_avoid_scatter(name, loss):
  """Scatters are slow on CPU; the tiled / one-hot formulations keep the backward pass elementwise."""
  jaxpr = str(jax.make_jaxpr(jax.grad(loss))(jnp.zeros((1, 8, 8, 2))))
  assert "scatter" not in jaxpr, name
