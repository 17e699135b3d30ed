"""Lecture item 8, dropout: train-time passes drop units and scale the rest by 1/(1-p); their mean is the test pass."""

import numpy as np

from cnnjax.lecture import training_tricks


def test_inverted_dropout_averages_to_the_test_time_network():
  image = np.random.default_rng(0).random((28, 28, 1), dtype=np.float32)
  d = training_tricks.dropout_samples(image, rate=0.5, samples=4000)
  active = d["test_hidden"] > 0
  ratios = d["train_hidden"][:, active] / d["test_hidden"][active]
  np.testing.assert_allclose(np.unique(np.round(ratios, 5)), [0.0, 2.0])
  assert 0.35 < (ratios == 0).mean() < 0.65
  spread = d["train"].std(0)
  # The head is linear in the dropped-out hidden vector, so E[train output] = test output (Monte-Carlo error only).
  assert np.all(np.abs(d["train"].mean(0) - d["test"]) < 4 * spread / np.sqrt(len(d["train"])))
  assert np.all(spread > 0.05)
