"""`cnnjax reproduce`: quick studies end to end, the determinism check and resuming an interrupted study."""

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnjax.commands import reproduce
from cnnjax.errors import InputError
from cnnjax.main import main
from cnnjax.train import runner
from cnnjax.reproduce import determinism, report, runs, studies

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = {"num_train_steps": 6, "eval_every_epochs": 0.0, "log_every_steps": 2, "checkpoint_every_steps": 1000,
        "progress_bar": False}


def _sections(text: str) -> list[str]:
  return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def _check_quick_report(out: Path, study: studies.Study, seeds: int) -> dict:
  readme = (out / "README.md").read_text()
  assert _sections(readme) == list(report.SECTIONS)
  summary = json.loads((out / "summary.json").read_text())
  assert [r["row"] for r in summary["rows"]] == [r.name for r in study.selected_rows(False)]
  for row in summary["rows"]:
    assert len(row["values"]) == seeds and row["within_tolerance"] is None
    assert f"| {row['label']} |" in readme and "not judged (--quick)" in readme
    assert (out / f"curves_{row['row']}.png").stat().st_size > 1000
    for seed in range(seeds):
      assert (runs.run_dir(out, row["row"], seed) / "results.json").exists()
  return summary


def test_quick_mnist1d_study_writes_every_section(tmp_path, monkeypatch, mnist1d_data_dir):
  monkeypatch.setenv("TFDS_DATA_DIR", mnist1d_data_dir)
  out = tmp_path / "mnist1d"
  assert reproduce.run(["cnnjax reproduce", "mnist1d", "--quick", "--seeds", "1", "--out", str(out),
                          "--configs", str(CONFIGS)]) == 0
  summary = _check_quick_report(out, studies.MNIST1D, seeds=1)
  assert summary["determinism"]["identical"] and summary["determinism"]["row"] == "cnn"
  assert "**Identical**" in (out / "README.md").read_text()


def test_quick_fashion_mnist_study_on_mock_data(tmp_path, monkeypatch, mock_tfds):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  out = tmp_path / "fashion"
  with mock_tfds("fashion_mnist", 256, str(tmp_path / "metadata")):
    assert reproduce.run(["cnnjax reproduce", "fashion_mnist", "--quick", "--seeds", "1", "--out", str(out),
                          "--configs", str(CONFIGS)]) == 0
  _check_quick_report(out, studies.FASHION_MNIST, seeds=1)
  assert not (out / "runs" / "resnet20").exists()  # --full rows are left out by default


def test_quick_cifar10_resnet_study_on_mock_data(tmp_path, monkeypatch, mock_tfds):
  if not (CONFIGS / "cifar10_resnet20.py").exists():
    pytest.skip("configs/cifar10_resnet20.py comes from the model-zoo branch")
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  out = tmp_path / "cifar"
  with mock_tfds("cifar10", 64, str(tmp_path / "metadata")):
    assert reproduce.run(["cnnjax reproduce", "cifar10_resnet", "--quick", "--seeds", "1", "--rows", "resnet20",
                          "--out", str(out), "--configs", str(CONFIGS)]) == 0
  _check_quick_report(out, studies.CIFAR10_RESNET.with_rows(["resnet20"]), seeds=1)


def test_missing_cifar10_stops_at_once_with_how_to_get_it(tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "empty"))
  monkeypatch.setenv("CNNJAX_OFFLINE", "1")
  start = time.perf_counter()
  assert reproduce.run(["cnnjax reproduce", "cifar10_resnet", "--out", str(tmp_path / "cifar"),
                        "--configs", str(CONFIGS)]) == 1
  assert time.perf_counter() - start < 10
  err = capsys.readouterr().err
  assert "tfds build cifar10" in err and "No report was written" in err
  assert not (tmp_path / "cifar").exists()


def test_configs_are_read_from_the_current_directory_else_from_those_shipped(tmp_path, monkeypatch, capsys):
  from cnnjax.train import config_files
  monkeypatch.chdir(tmp_path)  # outside the checkout: no configs/ here
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  assert reproduce._default_configs() == config_files.shipped_configs() == CONFIGS  # the checkout's, here
  monkeypatch.setattr(config_files, "shipped_configs", lambda: None)  # neither: say what to pass
  assert main(["cnnjax", "reproduce", "mnist1d", "--quick", "--out", str(tmp_path / "out")]) == 2
  assert "--configs configs: no such folder" in capsys.readouterr().err
  (tmp_path / "configs").mkdir()  # a configs/ folder without the study's files: it is the user's, and it wins
  assert main(["cnnjax", "reproduce", "mnist1d", "--quick", "--out", str(tmp_path / "out")]) == 2
  assert "config file mnist1d_linear.py is not in configs" in capsys.readouterr().err
  assert not (tmp_path / "out").exists() and not (tmp_path / "tfds").exists()  # stopped before any data


def test_a_bug_in_a_study_keeps_its_traceback(tmp_path, monkeypatch):
  """Only errors the user can fix are one line; a KeyError or ValueError from inside a study is a bug."""
  def broken(*args, **kwargs):
    raise KeyError("a key cnnjax itself forgot")

  monkeypatch.setattr(runs, "check_configs", broken)
  with pytest.raises(KeyError, match="a key cnnjax itself forgot"):
    main(["cnnjax", "reproduce", "mnist1d", "--quick", "--out", str(tmp_path / "out"), "--configs", str(CONFIGS)])
  assert not (tmp_path / "out").exists()


def test_an_override_the_config_file_lacks_names_both(tmp_path):
  (tmp_path / "mnist1d_linear.py").write_text("import ml_collections\n\n\ndef get_config():\n"
                                               "  return ml_collections.ConfigDict({'seed': 0})\n")
  study = dataclasses.replace(_one_row_study(), quick_overrides={"optimizer.learning_rate": 0.1})
  with pytest.raises(InputError, match=r"mnist1d_linear.py has no key 'optimizer.learning_rate'"):
    runs.row_config(study, study.rows[0], 0, tmp_path, quick=True)


def _one_row_study(seeds_row="linear") -> studies.Study:
  row = next(r for r in studies.MNIST1D.rows if r.name == seeds_row)
  return dataclasses.replace(studies.MNIST1D, rows=(row,), determinism_row=row.name, quick_overrides=TINY)


def test_determinism_check_flags_a_non_deterministic_run(tmp_path, monkeypatch, mnist1d_data_dir):
  monkeypatch.setenv("TFDS_DATA_DIR", mnist1d_data_dir)

  def perturbed(config, workdir):  # the "same" run with its learning rate off by one part in a million
    config = config.copy_and_resolve_references()
    config.optimizer.learning_rate *= 1 + 1e-6
    return runner.train_and_evaluate(config, workdir)

  study = _one_row_study()
  measured, pair = runs.run_study(study, tmp_path, 1, CONFIGS, quick=True, repeat_train_fn=perturbed)
  check = determinism.compare_runs(pair[0].workdir, pair[1].workdir)
  assert not check.identical and 0 < check.max_abs_difference < 1e-3
  assert any("loss" in d for d in check.differences)
  report.write_report(study, tmp_path, measured, pair, seeds=1, quick=True, full=False, command="test")
  assert "**NOT identical**" in (tmp_path / "README.md").read_text()
  assert not json.loads((tmp_path / "summary.json").read_text())["determinism"]["identical"]


def test_interrupted_study_resumes_without_rerunning_finished_runs(tmp_path, monkeypatch, mnist1d_data_dir):
  monkeypatch.setenv("TFDS_DATA_DIR", mnist1d_data_dir)
  study = _one_row_study()
  trained = []

  def interrupted_at_seed1(config, workdir):
    if config.seed == 1:
      raise runner.TrainingInterrupted("signal 15 received")
    trained.append((config.seed, Path(workdir).name))
    return runner.train_and_evaluate(config, workdir)

  with pytest.raises(runner.TrainingInterrupted):
    runs.run_study(study, tmp_path, 2, CONFIGS, quick=True, train_fn=interrupted_at_seed1)
  first = runs.run_dir(tmp_path, "linear", 0) / "results.json"
  finished_at = first.stat().st_mtime_ns

  def counting(config, workdir):
    trained.append((config.seed, Path(workdir).name))
    return runner.train_and_evaluate(config, workdir)

  measured, pair = runs.run_study(study, tmp_path, 2, CONFIGS, quick=True, train_fn=counting)
  assert trained == [(0, "seed0"), (1, "seed1"), (0, "seed0_repeat")]
  assert first.stat().st_mtime_ns == finished_at
  assert [m.reused for m in measured] == [True, False] and not pair[1].reused


def test_a_finished_run_with_another_config_is_refused(tmp_path, monkeypatch, mnist1d_data_dir):
  monkeypatch.setenv("TFDS_DATA_DIR", mnist1d_data_dir)
  study = _one_row_study()
  runs.run_study(study, tmp_path, 1, CONFIGS, quick=True)
  longer = dataclasses.replace(study, quick_overrides=TINY | {"num_train_steps": 7})
  with pytest.raises(InputError, match="different config"):
    runs.run_study(longer, tmp_path, 1, CONFIGS, quick=True)


def test_rows_can_be_chosen_by_name():
  study = studies.FASHION_MNIST.with_rows(["vgg16", "linear"])
  assert [r.name for r in study.selected_rows(full=False)] == ["linear", "vgg16"]
  with pytest.raises(InputError, match="no row.*resnet50.*its rows: linear, mlp, lenet5, resnet20, vgg16"):
    studies.FASHION_MNIST.with_rows(["resnet50"])


def test_published_ranges_and_tolerances():
  mlp = next(r for r in studies.FASHION_MNIST.rows if r.name == "mlp")
  assert (mlp.difference(88.0), mlp.difference(86.0), mlp.difference(91.5)) == (0.0, -1.0, 1.5)
  assert studies.CIFAR10_RESNET.measured(0.9125) == pytest.approx(8.75)
  with pytest.raises(InputError, match="did you mean 'mnist1d'"):
    studies.get_study("mnist_1d")


def test_run_locks_share_a_study_folder_between_processes(tmp_path):
  workdir = tmp_path / "runs" / "linear" / "seed0"
  assert runs.claim(workdir) and runs.claim(workdir)  # ours, and idempotent
  runs.release(workdir)
  assert not (workdir / runs.LOCK_NAME).exists()
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    (workdir / runs.LOCK_NAME).write_text(str(other.pid))
    assert not runs.claim(workdir)  # a live process holds it: skip and wait
  finally:
    other.kill()
    other.wait()
  assert runs.claim(workdir)  # its holder died: take it over (the runner resumes from the checkpoint)
  assert (workdir / runs.LOCK_NAME).read_text() == str(os.getpid())


def test_a_run_stored_before_a_new_config_key_is_still_the_same_experiment(tmp_path):
  """Keys added to the schema since a run was stored count only when the study sets them off their default."""
  config = runs.load_config("mnist1d_linear.py", CONFIGS)
  stored = json.loads(config.to_json_best_effort())
  del stored["fast_paths"], stored["dataset"]["cache"]
  (tmp_path / "config.json").write_text(json.dumps(stored))
  assert runs._same_config(tmp_path, config)  # pylint: disable=protected-access
  config.fast_paths = "off"
  assert not runs._same_config(tmp_path, config)  # pylint: disable=protected-access
  config.fast_paths = "auto"
  config.optimizer.learning_rate *= 2
  assert not runs._same_config(tmp_path, config)  # pylint: disable=protected-access
