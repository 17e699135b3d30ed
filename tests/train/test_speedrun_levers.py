"""The speedrun levers of the runner: label smoothing, the EMA of the weights and flip test-time augmentation."""

import functools
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax.train import steps, tasks
from cnnjax.train.state import create_train_state
from tests.parallel.bn_cnn import SmallBNCNN

SHAPE = (8, 8, 3)


def _batch(n=16, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": jnp.asarray(rng.normal(size=(n, *SHAPE)), jnp.float32),
          "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32), "mask": jnp.ones(n)}


def _log_softmax(z):
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothed_loss_is_the_formula_and_evaluation_stays_plain(smoothing):
  rng = np.random.default_rng(1)
  logits, labels = rng.normal(size=(6, 10)) * 3, rng.integers(0, 10, 6)
  targets = (1 - smoothing) * np.eye(10)[labels] + smoothing / 10
  expected = -(targets * _log_softmax(logits)).sum(-1).mean()
  task = tasks.Classification(label_smoothing=smoothing)
  loss, metrics = task.loss(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert float(metrics["loss"]) == float(loss)
  plain = -_log_softmax(logits)[np.arange(6), labels]
  sums = task.eval_sums(jnp.asarray(logits, jnp.float32), jnp.asarray(labels), jnp.ones(6))
  assert float(sums["loss_sum"]) == pytest.approx(plain.sum(), rel=1e-5)
  if smoothing:
    assert float(loss) > plain.mean() + 0.01  # the smoothed targets cost more on these confident logits


@functools.lru_cache(maxsize=None)  # each trajectory is trained (and its step compiled) once per session
def _train(ema_decay, steps_count=3):
  """The states (raw variables and EMA) after each of `steps_count` real train steps of SmallBNCNN."""
  model = SmallBNCNN()
  tx = optax.sgd(0.1, momentum=0.9)
  state = create_train_state(model, tx, jax.random.key(0), (1, *SHAPE), ema=bool(ema_decay))
  step = jax.jit(functools.partial(steps.train_step, task=tasks.Classification(), l2_weight_decay=0.0,
                                   schedule=optax.constant_schedule(0.1), ema_decay=ema_decay))
  states = [state]
  for k in range(steps_count):
    state, _ = step(state, _batch(seed=k), jax.random.key(7))
    states.append(state)
  return states


@pytest.mark.parametrize("ema_decay", [0.9, 0.05])  # 0.9: the warm-up decides every decay; 0.05: below it
def test_ema_after_k_steps_is_the_closed_form(ema_decay):
  states = _train(ema_decay)
  plain = _train(0.0)
  assert plain[-1].ema == {}
  variables = [jax.tree.map(np.float64, {"params": s.params, "batch_stats": s.batch_stats}) for s in plain]
  decays = [min(ema_decay, (1 + n) / (10 + n)) for n in range(3)]
  # EMA_k = prod_j d_j * V_0 + sum_j (1 - d_j) prod_{i > j} d_i * V_j (j = 1..k)
  k = 3
  weights = [np.prod(decays)] + [(1 - decays[j - 1]) * np.prod(decays[j:]) for j in range(1, k + 1)]
  assert sum(weights) == pytest.approx(1.0)
  expected = jax.tree.map(lambda *v: sum(w * x for w, x in zip(weights, v)), *variables)
  ema = states[-1].ema
  assert set(ema) == {"params", "batch_stats"} and jax.tree.structure(ema) == jax.tree.structure(expected)
  for got, want in zip(jax.tree.leaves(ema), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
  for a, b in zip(jax.tree.leaves(states[-1].params), jax.tree.leaves(plain[-1].params)):
    np.testing.assert_array_equal(a, b)  # the average never feeds back into training


class _Logits(tasks.Classification):
  """Classification whose evaluation returns the logits it was given, to look at what eval_step computed."""

  def eval_sums(self, logits, labels, mask):
    return {"logits": logits}


def _evaluate(state, batch, **options):
  return np.asarray(jax.jit(functools.partial(steps.eval_step, task=_Logits(), **options))(state, batch)["logits"])


def test_evaluation_uses_the_ema_weights_when_on():
  state = _train(0.9)[-1]
  batch = _batch(seed=5)
  as_ema = state.replace(params=state.ema["params"], batch_stats=state.ema["batch_stats"])
  ema_logits = _evaluate(state, batch, use_ema=True)
  np.testing.assert_array_equal(ema_logits, _evaluate(as_ema, batch))
  assert np.abs(ema_logits - _evaluate(state, batch)).max() > 1e-3


class _Asymmetric(nn.Module):
  """Dense on the flattened image: a mirrored image gets other logits."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(10)(x.reshape(x.shape[0], -1))


def test_flip_tta_logits_are_the_mean_of_image_and_mirror():
  state = create_train_state(_Asymmetric(), optax.sgd(0.1), jax.random.key(3), (1, *SHAPE))
  batch = _batch(seed=6)
  plain = _evaluate(state, batch)
  mirrored = _evaluate(state, {**batch, "image": batch["image"][:, :, ::-1]})
  tta = _evaluate(state, batch, flip_tta=True)
  np.testing.assert_allclose(tta, (plain + mirrored) / 2, rtol=1e-6, atol=1e-6)
  assert np.abs(tta - plain).max() > 0.05


def test_a_checkpoint_from_before_the_ema_restores_without_it_and_is_refused_with_it(tmp_path):
  """A step saved before TrainState had `ema` (a state without that field) restores, verified, as the runner's
  state with the EMA off; the state of a config turning the EMA on is refused, naming config.ema_decay."""
  import orbax.checkpoint as ocp
  from cnnjax.parallel import mesh as mesh_lib
  from cnnjax.train import checkpoint, setup
  from tests.train.test_runner import synthetic_run_config
  mesh = mesh_lib.make_data_mesh()
  training = setup.build_training(synthetic_run_config(), mesh, (28, 28, 1), 512, 3)
  state = training.init_state()
  old = {"step": state.step + 2, "params": state.params, "opt_state": state.opt_state, "batch_stats": {}}
  writer = checkpoint.Checkpointer(tmp_path)
  writer.manager.save(2, args=ocp.args.Composite(**{
      checkpoint.STATE_ITEM: ocp.args.StandardSave(old),
      checkpoint.DIGESTS_ITEM: ocp.args.JsonSave(checkpoint.array_digests(old))}))
  writer.close()
  reader = checkpoint.Checkpointer(tmp_path)
  restored = reader.restore(training.abstract_state)
  assert type(restored) is type(state) and int(restored.step) == 2 and restored.ema == {}
  for a, b in zip(jax.tree.leaves((restored.params, restored.opt_state)), jax.tree.leaves((state.params,
                                                                                          state.opt_state))):
    np.testing.assert_array_equal(a, b)
  with_ema = setup.build_training(synthetic_run_config(ema_decay=0.9), mesh, (28, 28, 1), 512, 3)
  with pytest.raises(checkpoint.CheckpointError, match=r"weight average \(config.ema_decay\)"):
    reader.restore(with_ema.abstract_state)
  reader.close()
  assert (tmp_path / "checkpoints" / "2").is_dir()  # refused, not set aside
