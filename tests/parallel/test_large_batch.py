"""The large-batch recipe of Goyal et al. (2017): linear scaling rule and gradual linear warmup."""

import math

import numpy as np
import pytest

from cnnjax.train import optim
from cnnjax.train.config import default_config


def _config(**schedule):
  config = default_config()
  config.optimizer.learning_rate = 0.1
  config.optimizer.scale_by_batch = True
  config.schedule.update(schedule)
  return config


@pytest.mark.parametrize("batch, expected", [(256, 0.1), (1024, 0.4), (8192, 3.2)])
def test_linear_scaling_rule_multiplies_the_rate_by_global_batch_over_256(batch, expected):
  assert optim.base_learning_rate(_config().optimizer, batch) == pytest.approx(expected)


def test_scaling_rule_is_off_unless_asked_for():
  config = _config()
  config.optimizer.scale_by_batch = False
  assert optim.base_learning_rate(config.optimizer, 8192) == pytest.approx(0.1)


def test_gradual_warmup_rises_linearly_then_hands_over_to_the_main_schedule():
  config = _config(name="cosine", warmup_epochs=5.0)
  lr = optim.base_learning_rate(config.optimizer, 8192)  # 3.2
  steps_per_epoch, total = 10, 100
  schedule = optim.make_schedule(config.schedule, lr, steps_per_epoch, total)
  warmup = 50
  got = np.array([float(schedule(s)) for s in range(total + 1)])
  np.testing.assert_allclose(got[:warmup + 1], lr * np.arange(warmup + 1) / warmup, rtol=1e-6, atol=1e-7)
  cosine = [lr * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))) for s in range(warmup, total + 1)]
  np.testing.assert_allclose(got[warmup:], cosine, rtol=1e-5, atol=1e-6)
  assert got.max() == pytest.approx(lr)


def test_multistep_boundaries_count_from_the_start_of_training_not_of_the_main_phase():
  config = _config(name="multistep", warmup_epochs=5.0, boundaries_epochs=(30.0, 60.0), decay_factor=0.1)
  schedule = optim.make_schedule(config.schedule, 3.2, 10, 900)
  assert float(schedule(49)) == pytest.approx(3.2 * 49 / 50)
  assert [float(schedule(s)) for s in (50, 299, 300, 599, 600)] == pytest.approx([3.2, 3.2, 0.32, 0.32, 0.032])
