"""The runner end to end on tfds mock data: outputs, exact resume after SIGTERM (tests/train/test_run_integrity.py: crashes, corruption, NaN)."""

import json
import os
import signal
import threading
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import tensorflow_datasets as tfds

from cnnjax.errors import InputError
from cnnjax.train import runner


def _final_state(workdir):
  directory = workdir / "checkpoints"
  step = max(int(p.name) for p in directory.iterdir() if p.name.isdigit())
  return step, ocp.StandardCheckpointer().restore(directory / str(step) / "default")


def _final_params(workdir):
  step, restored = _final_state(workdir)
  return step, restored["params"]


def test_one_step_run_on_mock_cifar10_writes_all_outputs(tmp_path, mock_cifar_config):
  config = mock_cifar_config(num_train_steps=2)
  with tfds.testing.mock_data(num_examples=21):
    results = runner.train_and_evaluate(config, tmp_path)
  final = results["final"]
  assert final["steps"] == 2 and final["test_num_examples"] == 21  # 21 is not a multiple of the batch of 8
  assert 0.0 <= final["test_accuracy"] <= 1.0 and np.isfinite(final["test_loss"])
  assert np.isfinite(final["train_loss"]) and final["examples_per_second"] > 0
  saved = json.loads((tmp_path / "results.json").read_text())
  assert set(saved) == {"final", "evaluation", "config", "environment", "compile"}
  assert saved["evaluation"] == {"weights": "raw", "flip_tta": False}
  assert saved["compile"]["train_step_seconds"] > 0 and saved["compile"]["eval_step_seconds"] > 0
  assert saved["compile"]["cache"] == {"dir": None, "hits": 0, "misses": 0}  # in-process: no cache unless configured
  assert saved["config"]["dataset"]["name"] == "cifar10"
  assert saved["environment"]["versions"]["jax"] == jax.__version__
  assert saved["environment"]["device_count"] == jax.device_count()
  assert json.loads((tmp_path / "config.json").read_text())["model"] == "lenet5"
  lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines if l["split"] == "train"] == [1, 2]
  assert {"loss", "accuracy", "learning_rate"} <= set(lines[0])
  assert "examples_per_second" in lines[1]
  assert any(p.name.startswith("events") for p in (tmp_path / "tensorboard").iterdir())


def test_interrupted_and_resumed_training_is_bitwise_equal(tmp_path, mock_cifar_config):
  """With the speedrun levers on: the EMA of the weights is part of the state and resumes exactly too."""
  levers = {"ema_decay": 0.9, "label_smoothing": 0.1, "eval_flip_tta": True}
  config = mock_cifar_config(num_train_steps=14, checkpoint_every_steps=4, **levers)  # 5 steps/epoch: crosses epochs
  with tfds.testing.mock_data(num_examples=40):
    runner.train_and_evaluate(config, tmp_path / "straight")

    interrupted = tmp_path / "interrupted"
    config_stop = mock_cifar_config(num_train_steps=14, checkpoint_every_steps=4, **levers)

    def send_sigterm_after_step_6():
      metrics = interrupted / "metrics.jsonl"
      deadline = time.time() + 120
      while time.time() < deadline:
        if metrics.exists() and any(json.loads(l)["step"] >= 6 for l in metrics.read_text().splitlines()):
          os.kill(os.getpid(), signal.SIGTERM)
          return
        time.sleep(0.01)

    killer = threading.Thread(target=send_sigterm_after_step_6, daemon=True)
    killer.start()
    with pytest.raises(runner.TrainingInterrupted, match="resume"):
      runner.train_and_evaluate(config_stop, interrupted)
    killer.join()
    stopped_at, _ = _final_params(interrupted)
    assert 6 <= stopped_at < 14
    runner.train_and_evaluate(config_stop, interrupted)

  step_a, state_a = _final_state(tmp_path / "straight")
  step_b, state_b = _final_state(interrupted)
  assert step_a == step_b == 14
  assert set(state_a["ema"]) == {"params"}  # LeNet-5 has no batch statistics
  leaves_a, leaves_b = jax.tree.leaves(state_a), jax.tree.leaves(state_b)
  assert len(leaves_a) == len(leaves_b)
  assert len(jax.tree.leaves(state_a["ema"])) == len(jax.tree.leaves(state_a["params"]))
  for a, b in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree.leaves(state_a["params"]), jax.tree.leaves(state_a["ema"]["params"])):
    assert not np.array_equal(a, b)  # the average lags the weights
  saved_a = json.loads((tmp_path / "straight" / "results.json").read_text())
  res_a, res_b = saved_a["final"], json.loads((interrupted / "results.json").read_text())["final"]
  assert res_a["test_loss"] == res_b["test_loss"] and res_a["train_loss"] == res_b["train_loss"]
  assert saved_a["evaluation"] == {"weights": "ema", "flip_tta": True}


def test_unknown_config_key_is_rejected_by_the_runner(tmp_path, mock_cifar_config):
  config = mock_cifar_config()
  config.unlock()
  config.optimiser = 1
  with pytest.raises(InputError, match="config.optimiser.*config.optimizer"):
    runner.train_and_evaluate(config, tmp_path)
  assert not list(tmp_path.iterdir())  # refused before anything is written


def test_rerunning_a_finished_run_keeps_its_results(tmp_path, mock_cifar_config):
  config = mock_cifar_config(num_train_steps=2)
  with tfds.testing.mock_data(num_examples=16):
    first = runner.train_and_evaluate(config, tmp_path)
    saved = (tmp_path / "results.json").read_text()
    again = runner.train_and_evaluate(config, tmp_path)
  assert again == json.loads(saved) and (tmp_path / "results.json").read_text() == saved
  assert first["final"]["train_loss"] == again["final"]["train_loss"] is not None


def test_resuming_with_another_config_is_refused_unless_allowed_and_then_recorded(tmp_path, mock_cifar_config):
  """config.json names the run of the checkpoints: it is written once the run is valid and changed only when allowed."""
  from cnnjax.train import checkpoint
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(mock_cifar_config(num_train_steps=2), tmp_path)
    saved = (tmp_path / "config.json").read_bytes()
    files = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match='(?s)model: "lenet5" -> "cifar_resnet20".*num_train_steps: 2 -> 4.*'
                                         "allow_config_change=true"):
      runner.train_and_evaluate(mock_cifar_config(num_train_steps=4, model="cifar_resnet20"), tmp_path)
    # Allowed, the other model still does not fit the checkpoints: refused, and config.json still names lenet5.
    with pytest.raises(checkpoint.CheckpointError, match="different model"):
      runner.train_and_evaluate(mock_cifar_config(num_train_steps=4, model="cifar_resnet20",
                                                  allow_config_change=True), tmp_path)
    assert (tmp_path / "config.json").read_bytes() == saved and sorted(p.name for p in tmp_path.iterdir()) == files
    results = runner.train_and_evaluate(mock_cifar_config(num_train_steps=4, allow_config_change=True), tmp_path)
  assert results["final"]["steps"] == 4
  assert json.loads((tmp_path / "config.json").read_text())["num_train_steps"] == 4
  record = json.loads((tmp_path / "config_changes.jsonl").read_text())
  assert record["step"] == 2 and record["changes"] == {"num_train_steps": {"saved": 2, "given": 4}}


def synthetic_run_config(**overrides):
  """A tiny classification config on cnnjax.data.synthetic (no tfds): LeNet-5 on 28x28x1 draws, batch 8."""
  from cnnjax.data import synthetic
  from cnnjax.train.config import default_config
  config = default_config()
  config.dataset.update(synthetic.dataset_fields((28, 28, 1)))
  config.update({"batch_size": 8, "eval_batch_size": 64, "num_train_steps": 3, "log_every_steps": 1,
                 "checkpoint_every_steps": 100, "eval_every_epochs": 0.0, "progress_bar": False, **overrides})
  return config.lock()


def test_a_few_steps_on_synthetic_data(tmp_path):
  """As flax's fake-data benchmark: the whole runner on config.dataset.name = "synthetic", no download."""
  from cnnjax.data import synthetic
  results = runner.train_and_evaluate(synthetic_run_config(), tmp_path)
  final = results["final"]
  assert final["steps"] == 3 and final["epochs"] == pytest.approx(3 / (synthetic.TRAIN_EXAMPLES // 8))
  assert final["test_num_examples"] == synthetic.EVAL_EXAMPLES  # 8 eval batches of 64, each example once
  assert np.isfinite(final["train_loss"]) and np.isfinite(final["test_loss"])
  assert 0.0 <= final["test_accuracy"] <= 1.0 and final["examples_per_second"] > 0
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["config"]["dataset"]["name"] == "synthetic" and saved["environment"]["fast_paths"]["mode"] == "auto"
  lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines if l["split"] == "train"] == [1, 2, 3]
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["3"]
