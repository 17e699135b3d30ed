"""Classification evaluation: top-5, confusion matrix and per-class accuracy equal a numpy count, also summed
over batches and devices; GoogLeNet's auxiliary losses enter the training gradient; a tiny run's results.json
holds them and its workdir the confusion PNG."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
import optax
import pytest
import tensorflow_datasets as tfds

from cnnjax.models import googlenet
from cnnjax.train import runner, steps, tasks
from cnnjax.train.state import create_train_state


def _numpy_metrics(logits, labels, mask):
  real = mask > 0
  logits, labels = logits[real], labels[real]
  predictions = logits.argmax(-1)
  confusion = np.zeros((logits.shape[1],) * 2, np.int64)
  for t, p in zip(labels, predictions):
    confusion[t, p] += 1
  top5 = np.argsort(-logits, -1)[:, :5]
  return {"accuracy": np.mean(predictions == labels), "top5": np.mean([l in row for l, row in zip(labels, top5)]),
          "confusion": confusion}


def test_eval_sums_match_numpy_over_batches_and_padding():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 40, 12)).astype(np.float32)
  labels = rng.integers(0, 12, (3, 40)).astype(np.int32)
  mask = np.ones((3, 40), np.float32)
  mask[2, 25:] = 0  # a padded last batch
  labels[2, 25:] = 0
  task = tasks.Classification()
  eval_sums = jax.jit(task.eval_sums)
  totals = functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b),
                            [eval_sums(logits[i], labels[i], mask[i]) for i in range(3)])
  metrics = task.finalize(jax.device_get(totals))
  expected = _numpy_metrics(logits.reshape(-1, 12), labels.reshape(-1), mask.reshape(-1))
  assert metrics["num_examples"] == 105
  assert metrics["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
  assert metrics["top5_accuracy"] == pytest.approx(expected["top5"], abs=1e-12)
  assert 0 < metrics["accuracy"] < metrics["top5_accuracy"] < 1
  np.testing.assert_array_equal(metrics["classes"]["confusion_matrix"], expected["confusion"])
  support = expected["confusion"].sum(1)
  np.testing.assert_allclose(metrics["classes"]["per_class_accuracy"], np.diag(expected["confusion"]) / support)
  assert metrics["classes"]["support"] == support.tolist()


def test_top5_needs_more_than_five_classes_and_empty_classes_have_no_accuracy():
  task = tasks.Classification()
  logits = jnp.asarray([[3.0, 1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.0, 0.0]])
  metrics = task.finalize(jax.device_get(task.eval_sums(logits, jnp.asarray([0, 2]), jnp.ones(2))))
  assert "top5_accuracy" not in metrics and metrics["accuracy"] == 0.5
  assert metrics["classes"]["per_class_accuracy"] == [1.0, None, 0.0, None, None]


class FlatClassifier(nn.Module):
  """Dense on the flattened image: its mirror gets other logits. [N, H, W, C] -> [N, 7]."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(7)(x.reshape(x.shape[0], -1))


_FLIP_TTA_EVAL = """
    import functools, flax.linen as nn, optax
    from cnnjax.train import steps
    from cnnjax.train.state import create_train_state
    images = np.random.default_rng(2).normal(size=(32, 4, 6, 1)).astype(np.float32)
    from tests.train.test_classification_eval import FlatClassifier
    state = create_train_state(FlatClassifier(), optax.sgd(0.1), jax.random.key(0), (1, 4, 6, 1), ema=True)
    state = state.replace(ema={"params": jax.tree.map(lambda p: 2 * p, state.params)})
    tta = jax.jit(functools.partial(steps.eval_step, task=tasks.Classification(), use_ema=True, flip_tta=True))
    tta_sums = tta(state, {"image": shard(images), "label": shard(labels), "mask": shard(mask)})
"""


def test_confusion_and_flip_tta_eval_are_exact_over_devices(run_with_devices):
  """The eval sums' confusion matrix, and the EMA + flip-TTA eval step on a batch sharded over 4 devices."""
  code = """
    import json, jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from cnnjax.parallel import mesh as mesh_lib
    from cnnjax.train import tasks
    mesh = mesh_lib.make_data_mesh()
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(32, 7)).astype(np.float32), rng.integers(0, 7, 32).astype(np.int32)
    mask = (np.arange(32) < 29).astype(np.float32)
    shard = lambda a: jax.device_put(a, NamedSharding(mesh, P("data")))
    sums = jax.jit(tasks.Classification().eval_sums)(shard(logits), shard(labels), shard(mask))
  """ + _FLIP_TTA_EVAL + """
    print(json.dumps([np.asarray(sums["confusion"]).tolist(), float(tta_sums["loss_sum"]), len(jax.devices())]))
  """
  confusion, tta_loss, devices = json.loads(run_with_devices(code, 4).strip().splitlines()[-1])
  assert devices == 4
  rng = np.random.default_rng(1)
  logits, labels = rng.normal(size=(32, 7)).astype(np.float32), rng.integers(0, 7, 32).astype(np.int32)
  mask = (np.arange(32) < 29) * 1.0
  np.testing.assert_array_equal(confusion, _numpy_metrics(logits, labels, mask)["confusion"])
  # by hand in float64 from the same initialisation: EMA weights (twice the raw ones), image and mirror averaged
  images = np.random.default_rng(2).normal(size=(32, 4, 6, 1)).astype(np.float32).astype(np.float64)
  params = create_train_state(FlatClassifier(), optax.sgd(0.1), jax.random.key(0), (1, 4, 6, 1)).params["Dense_0"]
  kernel, bias = (2 * np.asarray(params[k], np.float64) for k in ("kernel", "bias"))
  logits_of = lambda x: x.reshape(len(x), -1) @ kernel + bias  # noqa: E731
  assert tta_loss == pytest.approx(_loss_sum((logits_of(images) + logits_of(images[:, :, ::-1])) / 2, labels, mask),
                                   rel=1e-5)
  assert abs(tta_loss - _loss_sum(logits_of(images), labels, mask)) > 1e-3 * tta_loss  # the mirror matters here


def _loss_sum(logits, labels, mask):
  shifted = logits - logits.max(-1, keepdims=True)
  log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
  return float(-(np.take_along_axis(log_p, labels[:, None], -1)[:, 0] * mask).sum())


class _AuxNet(nn.Module):
  """A linear classifier with one auxiliary head sown as GoogLeNet's are."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.reshape((x.shape[0], -1))
    if train or self.is_initializing():
      aux = nn.Dense(3, name="aux1")(x)
      if train:
        self.sow("intermediates", "aux1_logits", aux)
    return nn.Dense(3, name="fc")(x)


def _one_sgd_step(model, weight, shape):
  state = create_train_state(model, optax.sgd(1.0), jax.random.key(0), (1, *shape))
  batch = {"image": jax.random.normal(jax.random.key(1), (4, *shape)), "label": jnp.asarray([0, 1, 2, 1])}
  step = jax.jit(functools.partial(steps.train_step, task=tasks.Classification(aux_loss_weight=weight),
                                   l2_weight_decay=0.0, schedule=optax.constant_schedule(1.0)))
  new, metrics = step(state, batch, jax.random.key(2))
  return jax.tree.map(lambda a, b: np.asarray(b - a), state.params, new.params), metrics


def test_auxiliary_loss_enters_the_gradient_with_its_weight():
  deltas = {w: _one_sgd_step(_AuxNet(), w, (2, 2, 1)) for w in (0.0, 0.3, 0.6)}
  aux = {w: d["aux1"]["kernel"] for w, (d, _) in deltas.items()}
  assert not aux[0.0].any() and np.abs(aux[0.3]).max() > 1e-3
  np.testing.assert_allclose(aux[0.6], 2 * aux[0.3], rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(deltas[0.0][0]["fc"]["kernel"], deltas[0.3][0]["fc"]["kernel"])
  metrics = deltas[0.3][1]
  assert float(metrics["aux_loss"]) > 0 and np.isfinite(float(metrics["loss"]))


@pytest.mark.slow  # GoogLeNet's train step compiles for ~1 minute on the shared CPU
def test_googlenet_aux_heads_are_trained_through_the_step():
  delta, metrics = _one_sgd_step(googlenet.GoogLeNet(num_classes=3, aux_logits=True), 0.3, (32, 32, 3))
  for head in ("aux1", "aux2"):
    assert np.abs(delta[head]["fc2"]["kernel"]).max() > 0
  assert "aux_loss" in metrics


def test_tiny_run_results_hold_top5_confusion_and_png(tmp_path, mock_cifar_config):
  config = mock_cifar_config(num_train_steps=2)
  with tfds.testing.mock_data(num_examples=21):
    results = runner.train_and_evaluate(config, tmp_path)
  saved = json.loads((tmp_path / "results.json").read_text())
  final = saved["final"]
  assert 0 <= final["test_accuracy"] <= final["test_top5_accuracy"] <= 1
  confusion = np.asarray(final["test_classes"]["confusion_matrix"])
  assert confusion.shape == (10, 10) and confusion.sum() == 21
  assert np.trace(confusion) == round(final["test_accuracy"] * 21)
  assert len(final["test_classes"]["per_class_accuracy"]) == 10
  assert (tmp_path / runner.CONFUSION_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert all("classes" not in r for r in rows)
  assert results["final"]["test_top5_accuracy"] == final["test_top5_accuracy"]
