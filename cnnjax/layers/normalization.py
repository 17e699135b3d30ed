"""Local response normalization (AlexNet) and batch normalization with torch's conventions mapped.

LRN follows torch.nn.functional.local_response_norm; batch norm is flax's `nn.BatchNorm` with
torch's epsilon and momentum translated. Under `jax.jit` over a device mesh the batch statistics are
computed over the global batch (sync BN) without any `axis_name`.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def local_response_norm(x: jax.Array, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 2.0) -> jax.Array:
  """b_c = a_c / (k + alpha / size * sum_{c' near c} a_c'^2) ** beta over `size` neighbouring channels.

  AlexNet's NORM1/NORM2 (Krizhevsky et al. 2012), with torch's (and Caffe's) convention of dividing
  alpha by size; pass alpha = size * alpha_paper for the paper's formula. Channels are the last axis;
  the window spans channels [c - size // 2, c + (size - 1) // 2], zero beyond the ends. Shape-preserving.
  """
  squares = jnp.square(x)
  window = (1,) * (x.ndim - 1) + (size,)
  pads = ((0, 0),) * (x.ndim - 1) + ((size // 2, (size - 1) // 2),)
  summed = lax.reduce_window(squares, 0.0, lax.add, window, (1,) * x.ndim, pads)
  return x / (k + (alpha / size) * summed) ** beta


class LocalResponseNorm(nn.Module):
  """Module form of `local_response_norm` (AlexNet defaults: size 5, alpha 1e-4, beta 0.75, k 2).

  [..., C] -> [..., C]; no parameters.
  """

  size: int = 5
  alpha: float = 1e-4
  beta: float = 0.75
  k: float = 2.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return local_response_norm(x, self.size, self.alpha, self.beta, self.k)


def flax_momentum(torch_momentum: float) -> float:
  """Flax's BatchNorm momentum for a torch momentum: flax keeps `momentum` of the old average, torch adds it.

  torch: running = (1 - m) running + m batch; flax: running = m' running + (1 - m') batch, so m' = 1 - m.
  One more difference that no argument removes: torch updates running_var with the unbiased batch
  variance (times n / (n - 1), n = N H W), flax with the biased one (what both normalize with).
  """
  if not 0.0 <= torch_momentum <= 1.0:
    raise ValueError(f"torch_momentum={torch_momentum} must be in [0, 1]")
  return 1.0 - torch_momentum


BatchNorm = functools.partial(nn.BatchNorm, momentum=flax_momentum(0.1), epsilon=1e-5)
BatchNorm.__doc__ = """flax `nn.BatchNorm` with torch.nn.BatchNorm2d's defaults: momentum 0.9 (= torch 0.1), eps 1e-5.

Ioffe & Szegedy 2015; the models' default `norm`. The batch variance is flax's E[x^2] - E[x]^2
(clipped at 0), as cnnjax.fast's BatchNormReLU computes it, so the two give the same values. Pass
`use_running_average=not train`; apply with `mutable=["batch_stats"]` in training.
[..., C] -> [..., C], statistics over all axes but the last.
"""
