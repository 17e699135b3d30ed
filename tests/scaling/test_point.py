"""A scaling point: a real config through its spec file, and the runner's own step on the runner's first batch."""

import json

import numpy as np
import pytest

from cnnjax.scaling import point
from cnnjax.train import runner

CONFIG = {"model": "lenet5", "batch_size": 8, "seed": 5, "optimizer": {"learning_rate": 0.02}}


def test_the_spec_file_carries_the_config_and_the_settings(tmp_path):
  config = point.synthetic_config((8, 8, 3), model="vgg11_bn", model_kwargs={"stages": [[8], [16]], "hidden_size": 16},
                                  augment={"flip": {}}, fast_paths="off", optimizer={"nesterov": True})
  settings = point.Settings(devices=2, steps=3, warmup_steps=0, record_losses=True,
                            distributed={"coordinator_address": "127.0.0.1:1", "num_processes": 2})
  point.write_spec(tmp_path / "spec.json", config, settings)
  read_config, read_settings = point.read_spec(tmp_path / "spec.json")
  assert read_settings == settings
  as_json = lambda c: json.loads(json.dumps(c.to_dict()))
  assert as_json(read_config) == as_json(config)
  assert read_config.dataset.mean == (0.0, 0.0, 0.0) and read_config.dataset.image_size == 8  # the schema's tuples
  assert read_config.optimizer.nesterov and read_config.optimizer.learning_rate == 0.05  # the rest: defaults


def test_a_point_needs_synthetic_data():
  config = point.synthetic_config((28, 28, 1))
  config.dataset.name = "fashion_mnist"
  with pytest.raises(ValueError, match="config.dataset.name='synthetic'"):
    point.build_point(config, point.Settings())


def test_the_point_runs_the_runners_step_on_the_runners_first_batch(tmp_path):
  """Same config, same seed: the point's first loss is the runner's logged loss of step 1, and its result
  records the timings, memory and fast paths."""
  config = point.synthetic_config((28, 28, 1), **CONFIG)
  result = point.run_point(config, point.Settings(devices=1, steps=2, warmup_steps=1, record_losses=True))
  assert (result["devices"], result["per_device_batch"], result["global_batch"]) == (1, 8, 8)
  assert len(result["step_seconds"]) == 2 and result["compile_seconds"] > 0 and result["images_per_second"] > 0
  assert result["peak_memory_bytes"] > 2 ** 20 and result["fast_paths"]["mode"] == "auto"
  assert len(result["losses"]) == 3 and result["final_loss"] == result["losses"][-1]
  assert result["params"] == 61_706  # LeNet-5, 10 classes

  run_config = point.synthetic_config((28, 28, 1), **CONFIG, num_train_steps=1, log_every_steps=1,
                                      eval_every_epochs=0.0, progress_bar=False)
  runner.train_and_evaluate(run_config, tmp_path)
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  first = next(r for r in rows if r["split"] == "train" and r["step"] == 1)
  np.testing.assert_allclose(result["losses"][0], first["loss"], rtol=1e-6)
