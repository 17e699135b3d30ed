"""Batch normalization, an optional residual add and ReLU as one layer whose gradient saves less.

relu(BN(x) [+ residual]) is what every ResNet block computes. Composed from `nn.BatchNorm` and
`nn.relu`, autodiff keeps three full-size arrays per layer for the backward pass (x - mean,
the normalized x and the pre-ReLU sum). `batch_norm_relu`'s custom VJP keeps two, x and the output
z, and takes the ReLU mask from z > 0 (the same as y > 0). That is less memory for XLA's per-step
scratch buffer and fewer passes over memory, which bounds this elementwise work. On the CPU, in
float32, its four passes (statistics, normalize, gradient sums, input gradient) run through
cnnjax.kernels.batch_norm on every core (XLA's fusions use one); elsewhere they are plain JAX.

`BatchNormReLU` has nn.BatchNorm's variables (params scale, bias; batch_stats mean, var), names,
initialisers and update rule, so a model can swap one for the other without changing its checkpoints.
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.kernels import batch_norm as batch_norm_kernels
from cnnjax.kernels import batch_sharded


def _statistics(x: jax.Array, kernels: bool) -> tuple[jax.Array, jax.Array]:
  """Per-channel mean and biased variance, E[x^2] - E[x]^2 clipped at 0 (flax's use_fast_variance)."""
  if kernels:
    sums = batch_norm_kernels.channel_sums(x) / (x.size // x.shape[-1])
    mean, mean_of_squares = sums[0], sums[1]
  else:
    axes = tuple(range(x.ndim - 1))
    mean, mean_of_squares = jnp.mean(x, axes), jnp.mean(jnp.square(x), axes)
  return mean, jnp.maximum(0.0, mean_of_squares - jnp.square(mean))


def _forward(x, scale, bias, residual, epsilon, kernels):
  mean, var = _statistics(x, kernels)
  multiplier = lax.rsqrt(var + epsilon) * scale
  if kernels:
    return batch_norm_kernels.normalize_relu(x, mean, multiplier, bias, residual), mean, var
  y = (x - mean) * multiplier + bias
  if residual is not None:
    y = y + residual
  return jnp.maximum(y, 0.0), mean, var


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _batch_norm_relu(epsilon, has_residual, kernels, x, scale, bias, residual):
  del has_residual
  return _forward(x, scale, bias, residual, epsilon, kernels)


def _batch_norm_relu_fwd(epsilon, has_residual, kernels, x, scale, bias, residual):
  del has_residual
  z, mean, var = _forward(x, scale, bias, residual, epsilon, kernels)
  return (z, mean, var), (x, z, mean, var, scale)


def _batch_norm_relu_bwd(epsilon, has_residual, kernels, saved, cotangents):
  x, z, mean, var, scale = saved
  g, g_mean, g_var = cotangents
  count = x.size // x.shape[-1]
  inv_std = lax.rsqrt(var + epsilon)
  if kernels:
    g_bias, g_centered = batch_norm_kernels.relu_grad_sums(g, z, x, mean)
  else:
    axes = tuple(range(x.ndim - 1))
    g_y = jnp.where(z > 0, g, 0.0)
    g_bias, g_centered = jnp.sum(g_y, axes), jnp.sum(g_y * (x - mean), axes)
  g_scale = g_centered * inv_std
  # d/dx of (x - mean) * inv_std * scale through x, the batch mean and the batch variance, plus the
  # cotangents of the returned statistics themselves (zero when they only feed the running averages):
  # g_x = k_gy * g_y + k_x * (x - mean) + k_1, per channel.
  k_gy = scale * inv_std
  k_x = -k_gy * inv_std * g_scale / count + 2.0 * g_var / count
  k_1 = -k_gy * g_bias / count + g_mean / count
  if kernels:
    g_x, g_residual = batch_norm_kernels.relu_input_grad(g, z, x, mean, k_gy, k_x, k_1, has_residual)
  else:
    g_x = k_gy * g_y + k_x * (x - mean) + k_1
    g_residual = g_y if has_residual else None
  return g_x, g_scale, g_bias, g_residual


_batch_norm_relu.defvjp(_batch_norm_relu_fwd, _batch_norm_relu_bwd)


def kernels_status() -> str:
  """"on" when batch_norm_relu computes float32 through cnnjax.kernels.batch_norm here, else "off: <why>"."""
  reason = batch_norm_kernels.unavailable_reason()
  return f"off: {reason}" if reason else "on"


def batch_norm_relu(x: jax.Array, scale: jax.Array, bias: jax.Array, residual: jax.Array | None = None,
                    epsilon: float = 1e-5) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Training-mode relu((x - mean) / sqrt(var + epsilon) * scale + bias [+ residual]) and the batch statistics.

  x: [..., C] float32, statistics over every axis but the last; scale, bias: [C]; residual: x's shape.
  Returns (output, mean, biased variance). Values and gradients equal those of nn.BatchNorm
  (use_fast_variance=True) followed by nn.relu, up to float rounding; only what the backward pass keeps
  differs. float32 on the CPU goes through cnnjax.kernels.batch_norm unless kernels_status() says why not.
  """
  if scale.shape != x.shape[-1:] or bias.shape != x.shape[-1:]:
    raise ValueError(f"batch_norm_relu: scale {scale.shape} and bias {bias.shape} must be ({x.shape[-1]},), "
                     f"one per channel of x {x.shape}")
  if residual is not None and residual.shape != x.shape:
    raise ValueError(f"batch_norm_relu: residual {residual.shape} must have x's shape {x.shape}")
  kernels = x.dtype == jnp.float32 and x.ndim >= 2 and kernels_status() == "on"
  return _batch_norm_relu(float(epsilon), residual is not None, kernels,
                          *batch_sharded.vary_alike(x, scale, bias, residual))


class BatchNormReLU(nn.Module):
  """relu(BatchNorm(x) [+ residual]) with nn.BatchNorm's variables: [..., C] -> [..., C].

  Call as `BatchNormReLU(use_running_average=not train)(x, residual)`; apply with
  mutable=["batch_stats"] in training. Eval mode normalizes with the running averages.
  """

  use_running_average: bool = False
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = None
  scale_init: Callable = nn.initializers.ones
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array, residual: jax.Array | None = None) -> jax.Array:
    features = (x.shape[-1],)
    running_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, jnp.float32), features)
    running_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, jnp.float32), features)
    scale = self.param("scale", self.scale_init, features, jnp.float32)
    bias = self.param("bias", self.bias_init, features, jnp.float32)
    dtype = self.dtype or jnp.result_type(x, jnp.float32)
    x32 = x.astype(jnp.float32)
    residual32 = None if residual is None else residual.astype(jnp.float32)
    if self.use_running_average:
      y = (x32 - running_mean.value) * (lax.rsqrt(running_var.value + self.epsilon) * scale) + bias
      if residual32 is not None:
        y = y + residual32
      return jnp.maximum(y, 0.0).astype(dtype)
    z, mean, var = batch_norm_relu(x32, scale, bias, residual32, self.epsilon)
    if not self.is_initializing():
      running_mean.value = self.momentum * running_mean.value + (1.0 - self.momentum) * mean
      running_var.value = self.momentum * running_var.value + (1.0 - self.momentum) * var
    return z.astype(dtype)
