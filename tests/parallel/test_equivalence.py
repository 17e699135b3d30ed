"""Data parallelism gives the same mathematics on 1 device, 8 devices and 2 processes x 4 devices.

The runner's real train step (cnnjax.scaling.point) on the same global batch of 32, with batch
norm over the global batch, by teacher forcing (tests/parallel/teacher_forcing.py): one process with
one device trains 5 steps and saves its states; 8 devices in one process, and 2 processes of 4, each
take one step from every one of those states. The programs sum in different orders (8 partial sums
and an all-reduce, across processes for 2 x 4), so the steps agree to float32 rounding, not bitwise
(2e-7 apart in the loss): D = 3 weighted layers, K_fwd = 9 x 8, K_bwd = 32 x 8 x 8 give rho_fwd 3e-6
and rho_bwd 7e-5 (seen: gradients 1e-6 apart). The free loss curves compared before (rtol 1e-5) hold
only until a ReLU unit within rounding of 0 takes the other branch in one of the programs.
"""

import json
import subprocess

import numpy as np
import pytest

from tests.parallel import subprocesses, teacher_forcing

GLOBAL_BATCH = 32
INPUT_SHAPE = (8, 8, 3)
# tests/parallel/bn_cnn.py's SmallBNCNN (teacher_forcing.TEST_MODELS), 5 steps at a constant rate
# With label smoothing and an EMA of the weights (the speedrun's levers) on: both are computed in the step.
CONFIG = {"model": "small_bn_cnn", "batch_size": GLOBAL_BATCH, "seed": 3, "schedule": {"name": "constant"},
          "optimizer": {"learning_rate": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
                        "weight_decay_mode": "l2", "scale_by_batch": False},
          "label_smoothing": 0.1, "ema_decay": 0.9}
EMA = ".ema"
STEPS = {"steps": 5, "warmup_steps": 0}
TERMS = (3, 9 * 8, 32 * 8 * 8)  # SmallBNCNN: conv1, conv2, head; conv2 reads 8 channels; batch 32 of 8x8
TIMEOUT = 120


def _spec_file(tmp_path, name, **settings) -> str:
  return str(teacher_forcing.write_spec(tmp_path / f"{name}.json", INPUT_SHAPE, {**STEPS, **settings}, **CONFIG))


def _start(spec: str, out, devices: int, *args: str) -> subprocess.Popen:
  return subprocesses.start(["-m", "tests.parallel.teacher_forcing", spec, str(out), *args], devices,
                            stdin=subprocess.PIPE)


@pytest.fixture(scope="module")
def teacher_and_eight(tmp_path_factory):
  """The one-device teacher's states and the 8-device student's steps from them, run side by side."""
  tmp = tmp_path_factory.mktemp("equivalence")
  teacher = _start(_spec_file(tmp, "one", devices=1), tmp / "one.npz", 1)
  eight = _start(_spec_file(tmp, "eight", devices=8), tmp / "eight.npz", 8, "--student")
  one_result, eight_result = teacher_forcing.finish(teacher, [eight], tmp / "one.npz", TIMEOUT)
  return tmp / "one.npz", one_result, eight_result, dict(np.load(tmp / "one.npz")), dict(np.load(tmp / "eight.npz"))


def test_one_device_and_eight_devices_take_the_same_steps(teacher_and_eight):
  _, one, eight, teacher, student = teacher_and_eight
  assert (one["devices"], eight["devices"]) == (1, 8)
  assert one["global_batch"] == eight["global_batch"] == GLOBAL_BATCH
  assert len(teacher["loss"]) == 5
  assert teacher["loss"][-1] < teacher["loss"][0]  # it trains
  teacher_forcing.assert_steps_agree(teacher, student, TERMS, CONFIG["optimizer"]["momentum"])


def assert_ema_follows(teacher: dict, student: dict) -> None:
  """Each step's EMA (parameters and batch statistics) is decay * the teacher's EMA before it + (1 - decay) * the
  student's own new variables, to float32 rounding, with the decay's warm-up min(ema_decay, (1 + k) / (10 + k))."""
  keys = [key for key in student if key.startswith(EMA)]
  assert len(keys) == len([key for key in student if key.startswith((".params", ".batch_stats"))])
  for k in range(len(teacher["loss"])):
    decay = min(CONFIG["ema_decay"], (1 + k) / (10 + k))
    for key in keys:
      before, own = teacher[key][k].astype(np.float64), student[key.removeprefix(EMA).replace("['", ".", 1)
                                                                  .replace("']", "", 1)][k].astype(np.float64)
      bound = 4 * teacher_forcing.U * (np.abs(before) + np.abs(own)) + 1e-30
      assert np.all(np.abs(student[key][k] - (decay * before + (1 - decay) * own)) <= bound), (k, key)


def test_one_device_and_eight_devices_keep_the_same_weight_average(teacher_and_eight):
  _, _, _, teacher, student = teacher_and_eight
  assert_ema_follows(teacher, student)


def test_two_processes_of_four_devices_take_the_same_steps(teacher_and_eight, tmp_path):
  teacher_file, _, _, teacher, _ = teacher_and_eight
  spec = _spec_file(tmp_path, "two_by_four", devices=8,
                    distributed={"coordinator_address": f"127.0.0.1:{subprocesses.free_port()}",
                                 "num_processes": 2, "timeout_seconds": 60})
  students = [_start(spec, tmp_path / "two.npz", 4, "--student", str(i)) for i in range(2)]
  try:
    for student in students:
      student.stdin.write(f"{teacher_file}\n")
      student.stdin.flush()
    two = json.loads(subprocesses.finish(students[0], TIMEOUT).strip().splitlines()[-1])
    subprocesses.finish(students[1], TIMEOUT)
  finally:
    for student in students:
      student.kill()  # a no-op once it has exited
  assert (two["processes"], two["devices"]) == (2, 8)
  two_by_four = dict(np.load(tmp_path / "two.npz"))
  teacher_forcing.assert_steps_agree(teacher, two_by_four, TERMS, CONFIG["optimizer"]["momentum"])
  assert_ema_follows(teacher, two_by_four)
