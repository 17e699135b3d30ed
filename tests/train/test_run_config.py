"""A workdir's config.json on resume: which changes are refused, which pass, and what is recorded."""

import json

import pytest

from cnnjax.errors import InputError
from cnnjax.train import config as config_lib, run_config


def _config(**changes):
  config = config_lib.default_config()
  for key, value in changes.items():
    config_lib.set_dotted(config, key, value)
  return config.lock()


def _workdir(tmp_path, stored: dict, checkpoints=(2,)):
  (tmp_path / "config.json").write_text(json.dumps(stored))
  for step in checkpoints:
    (tmp_path / "checkpoints" / str(step)).mkdir(parents=True)
  return tmp_path


def _stored(config) -> dict:
  return json.loads(config.to_json_best_effort())


def test_a_changed_model_and_length_are_refused_naming_each_key(tmp_path):
  workdir = _workdir(tmp_path, _stored(_config(num_train_steps=5)))
  before = (workdir / "config.json").read_bytes()
  with pytest.raises(InputError) as caught:
    run_config.check_resume(workdir, _config(model="cifar_resnet20", num_train_steps=10, log_every_steps=7))
  message = str(caught.value)
  assert '  model: "lenet5" -> "cifar_resnet20";\n  num_train_steps: 5 -> 10.\n' in message
  assert "log_every_steps" not in message  # harmless: not a reason to refuse
  assert "--config.allow_config_change=true" in message and "new --workdir" in message
  assert (workdir / "config.json").read_bytes() == before


@pytest.mark.parametrize("key,value", [("seed", 1), ("optimizer.learning_rate", 0.1), ("schedule.name", "constant"),
                                       ("batch_size", 64), ("num_epochs", 3.0), ("task", "segmentation"),
                                       ("dataset.name", "mnist"), ("model_kwargs.dtype", "bfloat16"),
                                       ("augment.flip", {}), ("batch_norm_stats", "per_device")])
def test_keys_that_change_the_run_need_allow_config_change(tmp_path, key, value):
  workdir = _workdir(tmp_path, _stored(_config()))
  changed = _config(**{key: value})
  with pytest.raises(InputError, match=f"  {key}: "):
    run_config.check_resume(workdir, changed)
  changed.unlock().allow_config_change = True
  assert [d[0] for d in run_config.check_resume(workdir, changed)] == [key]


def test_harmless_keys_may_change_and_are_reported(tmp_path):
  workdir = _workdir(tmp_path, _stored(_config()))
  harmless = {"log_every_steps": 7, "progress_bar": False, "eval_batch_size": 10, "eval_every_epochs": 0.0,
              "checkpoint_every_steps": 9, "keep_checkpoints": 1, "resume_from_step": 2, "fast_paths": "off",
              "xla_cpu_multi_output_fusion": True, "dataset.data_dir": "/data", "dataset.cache": False}
  differences = run_config.check_resume(workdir, _config(**harmless))
  assert sorted(d[0] for d in differences) == sorted(harmless)
  assert run_config.describe([("log_every_steps", 100, 7)]) == ["log_every_steps: 100 -> 7"]


def test_allow_config_change_is_a_permission_not_a_difference(tmp_path):
  workdir = _workdir(tmp_path, _stored(_config(allow_config_change=True)))
  assert run_config.check_resume(workdir, _config()) == []


def test_a_run_stored_before_a_key_existed_is_not_changed_by_its_default(tmp_path):
  stored = _stored(_config())
  del stored["allow_config_change"], stored["fast_paths"], stored["dataset"]["cache"]
  workdir = _workdir(tmp_path, stored)
  assert run_config.check_resume(workdir, _config()) == []
  changed = run_config.check_resume(workdir, _config(fast_paths="off"))
  assert run_config.describe(changed) == ['fast_paths: (absent) -> "off"']


def test_a_model_option_left_out_or_given_at_its_default_is_the_same_run(tmp_path):
  """model_kwargs and augmentation keywords hold choices: a left-out key is the model's (or function's) default."""
  workdir = _workdir(tmp_path, _stored(_config(**{"augment.crop": {}})))
  same = _config(**{"model_kwargs.dtype": "float32", "model_kwargs.kernel_size": 5, "augment.crop": {"padding": 4}})
  assert run_config.check_resume(workdir, same) == []
  with pytest.raises(InputError, match=r"  augment.crop.padding: 4 -> 2"):
    run_config.check_resume(workdir, _config(**{"augment.crop": {"padding": 2}}))


def test_a_new_workdir_or_a_fresh_start_is_not_a_resume(tmp_path):
  assert run_config.check_resume(tmp_path, _config(model="vgg11")) == []  # no config.json
  workdir = _workdir(tmp_path, _stored(_config()), checkpoints=())
  assert [d[0] for d in run_config.check_resume(workdir, _config(seed=3))] == ["seed"]  # nothing to resume
  (workdir / "checkpoints" / "4").mkdir(parents=True)
  assert [d[0] for d in run_config.check_resume(workdir, _config(seed=3, resume_from_step=0))] == [
      "resume_from_step", "seed"]  # starts afresh: the old checkpoints are set aside


def test_write_records_the_changes_with_the_step(tmp_path):
  config = _config(num_train_steps=10)
  run_config.write(tmp_path, config, [], 0)
  assert json.loads((tmp_path / "config.json").read_text())["num_train_steps"] == 10
  assert not (tmp_path / "config_changes.jsonl").exists()
  run_config.write(tmp_path, config, [("num_train_steps", 5, 10), ("fast_paths", config_lib.ABSENT, "off")], 4)
  record = json.loads((tmp_path / "config_changes.jsonl").read_text())
  assert record["step"] == 4 and record["run_altering"] == ["num_train_steps"]
  assert record["changes"] == {"num_train_steps": {"saved": 5, "given": 10}, "fast_paths": {"saved": None, "given": "off"}}
