"""The pure training step lowers the loss; the evaluation step ignores padding."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.models import get_model
from cnnjax.train import optim, steps, tasks
from cnnjax.train.state import create_train_state


def _setup():
  model = get_model("lenet5", num_classes=10)
  schedule = optax.constant_schedule(0.05)
  tx = optim.make_optimizer(__import__("ml_collections").ConfigDict(
      {"momentum": 0.9, "nesterov": False, "weight_decay": 0.0, "weight_decay_mode": "l2"}), schedule)
  state = create_train_state(model, tx, jax.random.key(0), (1, 28, 28, 1))
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.normal(size=(16, 28, 28, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 10, 16), jnp.int32)}
  train = jax.jit(functools.partial(steps.train_step, task=tasks.Classification(), l2_weight_decay=0.0,
                                    schedule=schedule))
  evaluate = jax.jit(functools.partial(steps.eval_step, task=tasks.Classification()))
  return state, batch, train, evaluate


def test_one_training_step_lowers_the_loss():
  state, batch, train, evaluate = _setup()
  mask = jnp.ones(16)
  before = evaluate(state, {**batch, "mask": mask})["loss_sum"] / 16
  state, metrics = train(state, batch, jax.random.key(1))
  after = evaluate(state, {**batch, "mask": mask})["loss_sum"] / 16
  assert float(metrics["loss"]) == np.float32(before)
  assert after < before
  assert int(state.step) == 1


def test_eval_sums_ignore_padded_rows():
  state, batch, _, evaluate = _setup()
  full = evaluate(state, {**batch, "mask": jnp.ones(16)})
  half = evaluate(state, {**batch, "mask": (jnp.arange(16) < 8).astype(jnp.float32)})
  first = evaluate(state, {k: v[:8] for k, v in batch.items()} | {"mask": jnp.ones(8)})
  assert float(half["count"]) == 8 and float(full["count"]) == 16
  np.testing.assert_allclose(half["loss_sum"], first["loss_sum"], rtol=1e-6)
  np.testing.assert_allclose(half["correct"], first["correct"])
