"""Tolerance rules of the layer parity tests.

`assert_close`: max |ours - reference| <= tol x max |reference| (against torch's layers).

`assert_sums_close` and `conv_term_sums`: two float32 implementations of the same convolution (oneDNN,
slices + matmul, lax) add the same K products in different orders. Each result is then off by at most
lambda sqrt(K) u sum|terms| (u = 2^-24; Higham & Mary 2019, "A new approach to probabilistic rounding
error analysis": with rounding errors independent and of mean zero, this holds with probability at
least 1 - 2K exp(-lambda^2 (1 - u)^2 / 2), 1 - 3e-11 for lambda = 8 and K = 1024), so two of them
differ by at most twice that, element by element. sum|terms| is the same convolution of |x| and |k|
(its gradients: of |cotangent|), so the bound scales with each output's own terms, not the array's
largest value; an output off by 0.1% of its terms' sum fails it for any K up to 10^6. Seen: up to
0.12 of the bound (oneDNN against lax, AVX-512 and AVX2).
"""

import jax
import numpy as np
from jax import lax

U = 2.0 ** -24  # float32's unit roundoff
LAMBDA = 8.0
NHWC = ("NHWC", "HWIO", "NHWC")


def assert_close(actual, expected, tol=1e-5):
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape
  scale = float(np.abs(expected).max()) or 1.0  # relative to the output scale
  assert float(np.abs(actual - expected).max()) <= tol * scale


def assert_sums_close(actual, expected, term_sums, terms: int, what: str = ""):
  """Each |actual - expected| <= 2 LAMBDA sqrt(terms) u term_sums: two float32 sums of `terms` terms whose
  magnitudes add to term_sums (same shape)."""
  actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
  assert actual.shape == expected.shape == np.shape(term_sums), what
  bound = 2 * LAMBDA * np.sqrt(terms) * U * np.asarray(term_sums, np.float64)
  ratio = np.max(np.abs(actual - expected) / np.maximum(bound, np.finfo(np.float32).tiny))
  assert ratio <= 1, f"{what}: difference up to {ratio:.3g} x the rounding bound (K = {terms})"


def conv_term_sums(x, k, cotangent, strides, padding, dimension_numbers=NHWC, **kwargs):
  """For y = conv(x, k) and the gradients of <cotangent, y>: the sums of |terms| of y, dx and dk, and K of each.

  Returns ((y_sums, K_y), (dx_sums, K_dx), (dk_sums, K_dk)); K is the largest number of terms of one output.
  """
  def conv(x, k):
    return lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=dimension_numbers,
                                    precision=lax.Precision.HIGHEST, **kwargs)

  ax, ak, ac = abs(x), abs(k), abs(cotangent)
  y_sums = conv(ax, ak)
  dx_sums = jax.vjp(lambda x: conv(x, ak), ax)[1](ac)[0]
  dk_sums = jax.vjp(lambda k: conv(ax, k), ak)[1](ac)[0]
  spec = lax.conv_dimension_numbers(x.shape, k.shape, dimension_numbers)
  kernel_taps = int(np.prod([k.shape[d] for d in spec.rhs_spec[2:]]))
  c_in, c_out = k.shape[spec.rhs_spec[1]], k.shape[spec.rhs_spec[0]]
  y_positions = int(np.prod([y_sums.shape[d] for d in (spec.out_spec[0], *spec.out_spec[2:])]))
  return (y_sums, c_in * kernel_taps), (dx_sums, c_out * kernel_taps), (dk_sums, y_positions)
