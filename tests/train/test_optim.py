"""Optimizer and schedules against hand computations on a tiny model."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from cnnjax.train import optim, steps, tasks
from cnnjax.train.state import TrainState

LR, MOMENTUM, WD = 0.1, 0.9, 0.01


def _opt_config(mode):
  return ConfigDict({"learning_rate": LR, "momentum": MOMENTUM, "nesterov": False, "weight_decay": WD,
                     "weight_decay_mode": mode, "scale_by_batch": False})


def _tiny_state(mode):
  model = nn.Dense(2)
  params = {"kernel": jnp.array([[0.5, -1.0], [2.0, 0.25]]), "bias": jnp.array([0.1, -0.2])}
  tx = optim.make_optimizer(_opt_config(mode), optax_constant())
  return TrainState.create(apply_fn=lambda v, x, **kw: (model.apply({"params": v["params"]}, x), {}),
                           params=params, tx=tx, batch_stats={})


def optax_constant():
  import optax
  return optax.constant_schedule(LR)


BATCH = {"image": jnp.array([[1.0, 2.0], [-1.0, 0.5]]), "label": jnp.array([0, 1])}


def _data_grad(params):
  def loss(p):
    logits = BATCH["image"] @ p["kernel"] + p["bias"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), BATCH["label"]])
  return jax.grad(loss)(params)


def _run(mode, n_steps=2):
  state = _tiny_state(mode)
  step = jax.jit(functools.partial(steps.train_step, task=tasks.Classification(),
                                   l2_weight_decay=optim.l2_coefficient(_opt_config(mode)), schedule=optax_constant()))
  for _ in range(n_steps):
    state, _ = step(state, BATCH, jax.random.key(0))
  return state.params


def test_l2_in_loss_matches_hand_computation():
  w = {k: np.asarray(v, np.float64) for k, v in _tiny_state("l2").params.items()}
  m = {k: np.zeros_like(v) for k, v in w.items()}
  for _ in range(2):
    g = {k: np.asarray(v, np.float64) for k, v in _data_grad({k: jnp.asarray(v, jnp.float32) for k, v in w.items()}).items()}
    g["kernel"] = g["kernel"] + WD * w["kernel"]  # d/dw of wd/2 * sum w^2; biases are not decayed
    m = {k: MOMENTUM * m[k] + g[k] for k in w}
    w = {k: w[k] - LR * m[k] for k in w}
  got = _run("l2")
  for k in w:
    np.testing.assert_allclose(got[k], w[k], rtol=1e-6, atol=1e-7)


def test_decoupled_weight_decay_matches_hand_computation():
  w = {k: np.asarray(v, np.float64) for k, v in _tiny_state("decoupled").params.items()}
  m = {k: np.zeros_like(v) for k, v in w.items()}
  for _ in range(2):
    g = {k: np.asarray(v, np.float64) for k, v in _data_grad({k: jnp.asarray(v, jnp.float32) for k, v in w.items()}).items()}
    m = {k: MOMENTUM * m[k] + g[k] for k in w}  # decay stays out of the momentum buffer
    w = {k: w[k] - LR * (m[k] + (WD * w[k] if k == "kernel" else 0.0)) for k in w}
  got = _run("decoupled")
  for k in w:
    np.testing.assert_allclose(got[k], w[k], rtol=1e-6, atol=1e-7)


def test_the_two_modes_differ():
  a, b = _run("l2"), _run("decoupled")
  assert not np.allclose(a["kernel"], b["kernel"])


def test_unknown_weight_decay_mode_is_rejected():
  with pytest.raises(ValueError, match="weight_decay_mode"):
    optim.make_optimizer(_opt_config("l1"), optax_constant())


def _schedule(name, **kw):
  cfg = ConfigDict({"name": name, "warmup_epochs": 0.0, "boundaries_epochs": (2.0, 3.0), "decay_factor": 0.1})
  cfg.update(kw)
  return optim.make_schedule(cfg, 1.0, steps_per_epoch=10, total_steps=50)


def test_schedules():
  multistep = _schedule("multistep")
  assert [float(multistep(s)) for s in (0, 19, 20, 29, 30, 49)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
  cosine = _schedule("cosine")
  assert float(cosine(0)) == pytest.approx(1.0) and float(cosine(25)) == pytest.approx(0.5)
  assert float(cosine(50)) == pytest.approx(0.0, abs=1e-7)
  warm = _schedule("cosine", warmup_epochs=1.0)
  assert [float(warm(s)) for s in (0, 5, 10)] == pytest.approx([0.0, 0.5, 1.0])
  assert float(_schedule("constant")(33)) == 1.0
  triangle = _schedule("linear", warmup_epochs=1.0)  # warmup to step 10, then down to 0 at step 50
  assert [float(triangle(s)) for s in (0, 5, 10, 30, 50)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
  with pytest.raises(ValueError, match="config.schedule.name"):
    _schedule("exponential")


def test_linear_scaling_rule():
  cfg = ConfigDict({"learning_rate": 0.1, "scale_by_batch": True})
  assert optim.base_learning_rate(cfg, 1024) == pytest.approx(0.4)
  cfg.scale_by_batch = False
  assert optim.base_learning_rate(cfg, 1024) == pytest.approx(0.1)
