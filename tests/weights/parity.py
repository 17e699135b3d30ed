"""Shared checks for converted pairs: numerical parity within the issue's tolerance, and exact round trips.

The tolerance: max |logits_cnnjax - logits_reference| <= 1e-4 x max |logits_reference|, in eval mode
(running statistics, float32) and in train mode (batch statistics, float64 on both sides), on a
non-square random input (cnnjax.weights.parity builds the randomised reference and measures). Train
mode in float32 is held to 1e-4 or twice torch's own float32-vs-float64 difference, whichever is
larger: deep networks on tiny batches are ill-conditioned there (cnnjax.weights.parity's docstring).
"""

import numpy as np

from cnnjax.weights import convert, parity

TOLERANCE = 1e-4


def assert_parity(source: str, name: str, input_shape: tuple[int, int, int] | None = None) -> parity.Parity:
  """The pair's eval, train (float64 and float32) and running-mean differences within the tolerance.

  `input_shape` (H, W, C) overrides parity's default 64x96, for models whose pools need other sizes.
  """
  result = parity.measure(source, name, None if input_shape is None else (parity.BATCH, *input_shape))
  assert result.eval_relative <= TOLERANCE, f"{source} {name} eval: {result.eval_relative:.2e}"
  assert result.train_relative_float64 <= TOLERANCE, f"{source} {name} train: {result.train_relative_float64:.2e}"
  float32_bound = max(TOLERANCE, 2 * result.torch_train_noise)
  assert result.train_relative <= float32_bound, (
      f"{source} {name} train float32: {result.train_relative:.2e} > {float32_bound:.2e}")
  assert result.running_mean_relative <= float32_bound, (  # float32 activations of the same ill-conditioned step
      f"{source} {name} running means: {result.running_mean_relative:.2e} > {float32_bound:.2e}")
  return result


def assert_round_trip(source: str, name: str) -> None:
  """to_torch(from_torch(state)) is state, key for key and bit for bit (num_batches_tracked exported as 0)."""
  reference = parity.reference_with_random_statistics(source, name)
  state = parity.state_of(reference)
  back = convert.to_torch(source, name, convert.from_torch(source, name, state, name).variables)
  assert sorted(back) == sorted(state)
  for key, value in state.items():
    expected = np.zeros_like(value) if key.endswith("num_batches_tracked") else value
    assert back[key].dtype == expected.dtype and np.array_equal(back[key], expected), key
