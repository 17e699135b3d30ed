"""Runs that cannot be fooled: verified checkpoints, one run per workdir, each step logged once, disk full.

Each test compares a disturbed run with an undisturbed one bitwise (parameters and every logged
number except the timing fields), on tfds mock data with LeNet-5.
"""

import json
import os
import socket
import subprocess
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import tensorflow_datasets as tfds

from cnnjax.train import checkpoint, metric_writer, runner, workdir_lock

TIMING = {"examples_per_second"}


def state_at(workdir, step):
  return ocp.StandardCheckpointer().restore(workdir / "checkpoints" / str(step) / "default")


def params_at(workdir, step):
  return state_at(workdir, step)["params"]


def logged(workdir) -> list[tuple]:
  """metrics.jsonl without timing, as comparable tuples in file order."""
  rows = metric_writer.read_rows(workdir / "metrics.jsonl")
  return [tuple(sorted((k, v) for k, v in r.items() if k not in TIMING)) for r in rows]


def assert_same_run(a, b, step):
  for x, y in zip(jax.tree.leaves(params_at(a, step)), jax.tree.leaves(params_at(b, step)), strict=True):
    np.testing.assert_array_equal(x, y)
  assert logged(a) == logged(b)
  final_a = json.loads((a / "results.json").read_text())["final"]
  final_b = json.loads((b / "results.json").read_text())["final"]
  assert {k: v for k, v in final_a.items() if k not in TIMING} == {k: v for k, v in final_b.items() if k not in TIMING}


def corrupt_array_bytes(step_dir):
  """Overwrites 8 bytes in the middle of the largest data file: decodes fine, holds other numbers."""
  largest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
  with largest.open("r+b") as f:
    f.seek(largest.stat().st_size // 2)
    f.write(b"\x01" * 8)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mock_cifar_config):
  """An undisturbed 6-step run with evaluation every epoch (2 steps) and checkpoints every 2 steps."""
  config = mock_cifar_config(num_train_steps=6, checkpoint_every_steps=2, eval_every_epochs=1.0, keep_checkpoints=5)
  workdir = tmp_path_factory.mktemp("reference")
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(config, workdir)
  return config, workdir


def interrupt_before_saving(workdir, step):
  """Makes a finished run look killed while saving `step`: orbax's temporary folder, no results.json."""
  (workdir / "checkpoints" / str(step)).rename(workdir / "checkpoints" / f"{step}.orbax-checkpoint-tmp-1")
  (workdir / "results.json").unlink()


def params_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_silently_corrupted_checkpoint_is_set_aside_and_rewritten(tmp_path, reference, caplog):
  config, straight = reference
  run = tmp_path / "run"
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(config, run)
    interrupt_before_saving(run, 6)
    corrupt_array_bytes(run / "checkpoints" / "4")
    assert not params_equal(state_at(run, 4), state_at(straight, 4))  # orbax alone restores other numbers
    runner.train_and_evaluate(config, run)
  warnings = [r.getMessage() for r in caplog.records if r.name == checkpoint.__name__]
  assert len(warnings) == 1 and "step 4 set aside" in warnings[0] and "sha256" in warnings[0]
  assert [p.name.split("_")[1] for p in (run / "rejected_checkpoints").iterdir()] == ["4"]
  assert_same_run(straight, run, 6)
  assert params_equal(state_at(run, 4), state_at(straight, 4))  # written afresh
  assert not any(r.exc_info for r in caplog.records)


def test_unreadable_checkpoints_everywhere_stop_with_nothing_moved(tmp_path, mock_cifar_config):
  config = mock_cifar_config(num_train_steps=4, checkpoint_every_steps=2)
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(config, tmp_path)
    for path in (tmp_path / "checkpoints").rglob("*"):
      if path.is_file() and path.parent.name == "d":
        path.write_bytes(os.urandom(path.stat().st_size))
    (tmp_path / "results.json").unlink()
    with pytest.raises(checkpoint.CheckpointError, match="step 4: .*step 2: .*nothing was moved"):
      runner.train_and_evaluate(config, tmp_path)
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2", "4"]
  assert not (tmp_path / "rejected_checkpoints").exists()


def test_checkpoint_of_another_model_is_refused_not_moved(tmp_path, mock_cifar_config):
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(mock_cifar_config(num_train_steps=2, checkpoint_every_steps=2), tmp_path)
    (tmp_path / "results.json").unlink()
    # allowed past config.json's check (cnnjax.train.run_config), the checkpoints' own check refuses the model
    with pytest.raises(checkpoint.CheckpointError, match="different model.*new --workdir"):
      runner.train_and_evaluate(mock_cifar_config(num_train_steps=2, model="linear", allow_config_change=True),
                                tmp_path)
  assert (tmp_path / "checkpoints" / "2").is_dir()


def test_crash_after_logging_repeats_no_row(tmp_path, reference):
  """A run killed after logging steps 5-6 but before saving step 6 resumes at 4 and logs each step once."""
  config, straight = reference
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(config, tmp_path / "run")
    interrupt_before_saving(tmp_path / "run", 6)
    runner.train_and_evaluate(config, tmp_path / "run")
  steps = [(r["step"], r["split"]) for r in metric_writer.read_rows(tmp_path / "run" / "metrics.jsonl")]
  assert len(steps) == len(set(steps))
  assert not list((tmp_path / "run" / "checkpoints").glob("*tmp*"))
  assert_same_run(straight, tmp_path / "run", 6)


def test_crash_during_an_evaluation_after_a_save_repeats_it_once(tmp_path, reference):
  config, straight = reference
  run = tmp_path / "run"
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(config, run)
    interrupt_before_saving(run, 6)
    rows = (run / "metrics.jsonl").read_text().splitlines()
    kept = [l for l in rows if json.loads(l)["step"] < 4 or (json.loads(l)["step"], json.loads(l)["split"]) == (4, "train")]
    (run / "metrics.jsonl").write_text("".join(l + "\n" for l in kept) + rows[len(kept)][:20])  # a cut line
    runner.train_and_evaluate(config, run)
  assert_same_run(straight, run, 6)


def test_nan_stop_names_the_last_healthy_checkpoint_and_its_advice_works(tmp_path, mock_cifar_config):
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(mock_cifar_config(num_train_steps=2, checkpoint_every_steps=2), tmp_path)
    (tmp_path / "results.json").unlink()
    exploding = mock_cifar_config(num_train_steps=10, checkpoint_every_steps=1, allow_config_change=True,
                                  **{"optimizer.learning_rate": 1e30})
    with pytest.raises(runner.NonFiniteLossError, match=r"resume_from_step=2 and a lower.*allow_config_change=true"):
      runner.train_and_evaluate(exploding, tmp_path)
    advised = mock_cifar_config(num_train_steps=6, checkpoint_every_steps=2, resume_from_step=2,
                                allow_config_change=True)
    results = runner.train_and_evaluate(advised, tmp_path)
  assert results["final"]["steps"] == 6 and np.isfinite(results["final"]["train_loss"])
  assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()) == [2, 4, 6]
  assert all(p.name.startswith("step_") for p in (tmp_path / "rejected_checkpoints").iterdir())


def test_last_healthy_checkpoint_is_judged_by_the_loss_after_it():
  train = lambda step, loss: {"step": step, "split": "train", "loss": loss}
  rows = [train(1, 2.3), train(2, 2.2), {"step": 2, "split": "test", "loss": 1.0}, train(3, 6.5e16), train(4, 2.0)]
  assert runner.last_healthy_checkpoint([1, 2, 3], rows) == (1, 2.2)  # step 2's parameters gave 6.5e16
  assert runner.last_healthy_checkpoint([2, 3], rows) is None         # step 3's own loss diverged
  assert runner.last_healthy_checkpoint([4], rows) is None            # nothing logged after it
  assert runner.last_healthy_checkpoint([1], [train(1, 2.3), train(2, 9.1)]) == (1, 9.1)  # 9.1 < 4 x 2.3


def test_second_run_on_a_live_workdir_is_refused_at_once(tmp_path, mock_cifar_config):
  with workdir_lock.WorkdirLock(tmp_path):
    started = time.perf_counter()
    with pytest.raises(workdir_lock.WorkdirLockedError, match=f"process {os.getpid()} on host {socket.gethostname()}"):
      runner.train_and_evaluate(mock_cifar_config(), tmp_path)
    assert time.perf_counter() - started < 5
  assert not (tmp_path / "config.json").exists() and not (tmp_path / "metrics.jsonl").exists()


def test_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
  dead = subprocess.Popen(["true"])
  dead.wait()
  (tmp_path / workdir_lock.LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                                             "started": "earlier"}))
  with workdir_lock.WorkdirLock(tmp_path):
    assert json.loads((tmp_path / workdir_lock.LOCK_NAME).read_text())["pid"] == os.getpid()
  assert f"lock of process {dead.pid}" in caplog.text and "no longer running" in caplog.text
  assert json.loads((tmp_path / workdir_lock.LOCK_NAME).read_text()) == {}


def test_lock_of_another_host_counts_while_its_heartbeat_is_fresh(tmp_path):
  lock_file = tmp_path / workdir_lock.LOCK_NAME
  lock_file.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "now"}))
  with pytest.raises(workdir_lock.WorkdirLockedError, match="process 1 on host elsewhere.*heartbeat"):
    workdir_lock.WorkdirLock(tmp_path).acquire()
  silent_since = time.time() - workdir_lock.STALE_AFTER_SECONDS - 1
  os.utime(lock_file, (silent_since, silent_since))
  with workdir_lock.WorkdirLock(tmp_path):
    pass


@pytest.fixture
def small_disk(tmp_path):
  """A 900 KiB tmpfs (room for a LeNet-5 checkpoint or two); skipped where mounting is not allowed."""
  mount_point = tmp_path / "disk"
  mount_point.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=900k", "tmpfs", str(mount_point)],
                    capture_output=True).returncode != 0:
    pytest.skip("needs permission to mount a tmpfs (root)")
  yield mount_point
  subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_stops_the_run_and_it_resumes_bitwise_once_space_is_freed(tmp_path, reference, small_disk, caplog):
  config, straight = reference
  run = small_disk / "run"
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(checkpoint.CheckpointSaveError, match=r"could not save step \d.*No space left.*intact"):
      runner.train_and_evaluate(config, run)
    kept = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert kept and max(kept) < 6
    for step in kept:
      params_at(run, step)  # still readable
    assert not any(r.exc_info for r in caplog.records)
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    runner.train_and_evaluate(config, run)
  assert not list((run / "checkpoints").glob("*tmp*"))
  assert_same_run(straight, run, 6)


def test_cnnjax_train_on_a_live_workdir_exits_2_before_starting_jax(tmp_path, capsys):
  from cnnjax import main
  with workdir_lock.WorkdirLock(tmp_path):
    code = main.main(["cnnjax", "train", "--config", "configs/fashion_mnist_lenet5.py", "--workdir", str(tmp_path)])
  err = capsys.readouterr().err
  assert code == 2 and err.count("\n") == 1 and f"process {os.getpid()} on host" in err and "Traceback" not in err
