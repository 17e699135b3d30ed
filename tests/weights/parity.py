"""Shared checks for converted pairs: numerical parity within the issue's tolerance, and exact round trips.

The tolerance: max |logits_cnnjax - logits_reference| <= 1e-4 x max |logits_reference|, in eval mode
(running statistics) and in train mode (batch statistics), on a non-square random input
(cnnjax.weights.parity builds the randomised reference and measures).
"""

import numpy as np

from cnnjax.weights import convert, parity

TOLERANCE = 1e-4


def assert_parity(source: str, name: str) -> parity.Parity:
  result = parity.measure(source, name)
  assert result.eval_relative <= TOLERANCE, f"{source} {name} eval: {result.eval_relative:.2e}"
  assert result.train_relative <= TOLERANCE, f"{source} {name} train: {result.train_relative:.2e}"
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
