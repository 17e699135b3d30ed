"""The tolerance rule of the layer parity tests: max |ours - reference| <= tol x max |reference|."""

import numpy as np


def assert_close(actual, expected, tol=1e-5):
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape
  scale = float(np.abs(expected).max()) or 1.0  # relative to the output scale
  assert float(np.abs(actual - expected).max()) <= tol * scale
