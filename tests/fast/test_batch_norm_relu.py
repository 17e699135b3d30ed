"""BatchNormReLU against torch (batch_norm + ReLU, values and gradients) and against flax's composed layers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.fast.batch_norm_relu import BatchNormReLU, batch_norm_relu
from tests.layers.parity import assert_close

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
F = torch.nn.functional


class Composed(nn.Module):
  """The reference formulation: nn.BatchNorm, then + residual, then ReLU."""

  use_running_average: bool = False

  @nn.compact
  def __call__(self, x, residual=None):
    y = nn.BatchNorm(use_running_average=self.use_running_average, momentum=0.9, epsilon=1e-5, name="bn")(x)
    return nn.relu(y if residual is None else y + residual)


class Fused(nn.Module):
  use_running_average: bool = False

  @nn.compact
  def __call__(self, x, residual=None):
    return BatchNormReLU(use_running_average=self.use_running_average, name="bn")(x, residual)


def _data(shape=(4, 6, 5, 3), seed=0):
  rng = np.random.default_rng(seed)
  x = (2.0 * rng.standard_normal(shape) + 0.5).astype(np.float32)
  residual = rng.standard_normal(shape).astype(np.float32)
  cotangent = rng.standard_normal(shape).astype(np.float32)
  channels = shape[-1]
  scale = np.linspace(0.5, 1.5, channels).astype(np.float32)
  bias = np.linspace(-0.3, 0.2, channels).astype(np.float32)
  return x, residual, cotangent, scale, bias


@pytest.mark.parametrize("with_residual", [False, True])
def test_matches_torch_batch_norm_relu_with_gradients(with_residual):
  x, residual, cotangent, scale, bias = _data()
  residual = residual if with_residual else None

  def value_and_grads(x, scale, bias, residual):
    (z, mean, var), vjp = jax.vjp(lambda *a: batch_norm_relu(*a), x, scale, bias, residual)
    return z, mean, var, vjp((cotangent, jnp.zeros_like(mean), jnp.zeros_like(var)))

  z, mean, var, grads = jax.jit(value_and_grads)(x, scale, bias, residual)
  to_nchw = lambda a: torch.tensor(a).permute(0, 3, 1, 2)  # noqa: E731
  xt = to_nchw(x).requires_grad_()
  st, bt = torch.tensor(scale).requires_grad_(), torch.tensor(bias).requires_grad_()
  rt = None if residual is None else to_nchw(residual).requires_grad_()
  yt = F.batch_norm(xt, None, None, st, bt, training=True, eps=1e-5)
  ref = F.relu(yt if rt is None else yt + rt)
  ref.backward(to_nchw(cotangent))
  to_nhwc = lambda t: t.detach().permute(0, 2, 3, 1).numpy()  # noqa: E731
  assert_close(z, to_nhwc(ref))
  assert_close(mean, xt.detach().mean(dim=(0, 2, 3)).numpy())
  assert_close(var, xt.detach().var(dim=(0, 2, 3), unbiased=False).numpy())
  assert_close(grads[0], to_nhwc(xt.grad), tol=2e-5)
  assert_close(grads[1], st.grad.numpy(), tol=2e-5)
  assert_close(grads[2], bt.grad.numpy(), tol=2e-5)
  if residual is None:
    assert grads[3] is None
  else:
    assert_close(grads[3], to_nhwc(rt.grad))
  assert 0.2 < float(jnp.mean(z == 0)) < 0.8  # the ReLU cut a real share of the outputs


@pytest.mark.parametrize("with_residual", [False, True])
def test_module_equals_flax_batch_norm_then_relu(with_residual):
  """Same variables; same output, running averages and gradients, including through the statistics."""
  x, residual, cotangent, scale, bias = _data(seed=1)
  residual = residual if with_residual else None
  reference, fused = Composed(), Fused()
  variables = reference.init(jax.random.key(0), x, residual)
  assert jax.tree.map(jnp.shape, fused.init(jax.random.key(0), x, residual)) == jax.tree.map(jnp.shape, variables)
  params = {"bn": {"scale": jnp.asarray(scale), "bias": jnp.asarray(bias)}}
  stats = {"bn": {"mean": jnp.full((3,), 0.2), "var": jnp.full((3,), 1.5)}}

  def objective(model):
    def loss(params, x, residual):
      z, updates = model.apply({"params": params, "batch_stats": stats}, x, residual, mutable=["batch_stats"])
      new = updates["batch_stats"]["bn"]
      # statistics in the loss too, so their cotangents reach the custom VJP
      return jnp.sum(z * cotangent) + jnp.sum(3.0 * new["mean"] + 2.0 * new["var"]), updates
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))

  (loss_ref, updates_ref), grads_ref = objective(reference)(params, x, residual)
  (loss_fused, updates_fused), grads_fused = objective(fused)(params, x, residual)
  # a sum of 360 products of order 1: the statistics' rounding (the CPU kernels sum in double) moves it ~1e-5
  np.testing.assert_allclose(loss_fused, loss_ref, rtol=0, atol=2e-5)
  for ours, ref in zip(jax.tree.leaves((updates_fused, grads_fused)), jax.tree.leaves((updates_ref, grads_ref))):
    assert_close(ours, ref, tol=2e-5)

  evaluation = {"params": params, "batch_stats": stats}
  assert_close(Fused(use_running_average=True).apply(evaluation, x, residual),
               Composed(use_running_average=True).apply(evaluation, x, residual))


def test_backward_keeps_two_full_size_arrays_where_composition_keeps_more():
  """The point of the layer: x and the output are its only full-size residuals."""
  x, residual, _, _, _ = _data(shape=(8, 8, 8, 4))
  full = x.size

  def saved_full_size(model):
    variables = model.init(jax.random.key(0), x, residual)

    def loss(params):
      z, _ = model.apply({**variables, "params": params}, x, residual, mutable=["batch_stats"])
      return jnp.sum(z)
    _, vjp_fn = jax.vjp(loss, variables["params"])  # a Partial whose leaves are the saved arrays
    return sum(1 for leaf in jax.tree.leaves(vjp_fn) if leaf.size == full)

  assert saved_full_size(Fused()) == 2
  assert saved_full_size(Composed()) >= 3


def test_shape_errors_name_the_argument():
  x = jnp.ones((2, 3, 3, 4))
  with pytest.raises(ValueError, match=r"scale \(3,\) and bias \(4,\) must be \(4,\)"):
    batch_norm_relu(x, jnp.ones(3), jnp.zeros(4))
  with pytest.raises(ValueError, match="residual .* must have x's shape"):
    batch_norm_relu(x, jnp.ones(4), jnp.zeros(4), jnp.ones((2, 3, 3, 2)))
