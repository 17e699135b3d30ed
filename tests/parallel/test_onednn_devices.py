"""The runner's train step with the CPU fast paths on 1 and on 2 devices: the same steps, oneDNN on both.

A ResNet-8 (CIFAR ResNet, one basic block per stage) gets the fast blocks (oneDNN convolutions,
BatchNormReLU) on one device and on two (the convolutions' sharding rule,
cnnjax.kernels.batch_sharded), compared by teacher forcing with the bounds of
tests/parallel/teacher_forcing.py, as in test_equivalence.py. The two-device program runs every oneDNN
call of the one-device program and gathers no activations: each device convolves its own examples.
With per-device ("ghost") batch norm the fast blocks take the plain blocks' steps (slow).
"""

import subprocess

import numpy as np
import pytest

from cnnjax.kernels import batch_norm, onednn
from tests.parallel import subprocesses, teacher_forcing

GLOBAL_BATCH = 16
INPUT_SHAPE = (8, 8, 3)
CONFIG = {"model": "resnet8", "batch_size": GLOBAL_BATCH, "seed": 5, "schedule": {"name": "constant"},
          "optimizer": {"learning_rate": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
                        "weight_decay_mode": "l2", "scale_by_batch": False}}
STEPS = {"steps": 5, "warmup_steps": 0}
# ResNet-8: 7 convolutions + the head; the widest input has 64 channels (9 x 64 terms); batch 16 of 8x8 maps
TERMS = (8, 9 * 64, GLOBAL_BATCH * 8 * 8)
ONEDNN_CALLS = ("cnnjax_CnnjaxConvForward", "cnnjax_CnnjaxConvInputGrad", "cnnjax_CnnjaxConvFilterGrad")
BATCH_NORM_CALLS = tuple(batch_norm.TARGETS.values())
TIMEOUT = 180


@pytest.fixture(scope="module", autouse=True)
def library():
  reason = onednn.unavailable_reason()
  if reason:
    pytest.skip(reason)  # tests/fast/test_onednn_conv.py fails under CI when the library is missing


def _start(tmp_path, name: str, devices: int, *args: str, **overrides) -> subprocess.Popen:
  spec = teacher_forcing.write_spec(tmp_path / f"{name}.json", INPUT_SHAPE, {**STEPS, "devices": devices},
                                    **{**CONFIG, **overrides})
  return subprocesses.start(["-m", "tests.parallel.teacher_forcing", str(spec), str(tmp_path / f"{name}.npz"), *args],
                            devices, stdin=subprocess.PIPE)


def test_one_and_two_devices_take_the_same_steps_through_onednn(tmp_path):
  teacher = _start(tmp_path, "one", 1)
  student = _start(tmp_path, "two", 2, "--student")
  one, two = teacher_forcing.finish(teacher, [student], tmp_path / "one.npz", TIMEOUT)
  assert (one["devices"], two["devices"]) == (1, 2)
  for result in (one, two):
    assert result["fast_paths"]["onednn_convolutions"] == "on"
    assert result["fast_paths"]["conv"] == "Conv(onednn_conv)" and result["fast_paths"]["norm_act"] == "BatchNormReLU"
  calls = {target: two["custom_calls"].get(target, 0) for target in ONEDNN_CALLS + BATCH_NORM_CALLS}
  assert calls == {target: one["custom_calls"].get(target, 0) for target in ONEDNN_CALLS + BATCH_NORM_CALLS}
  assert calls["cnnjax_CnnjaxConvForward"] == 7 and two["all_gathers"] == 0
  if one["fast_paths"]["batch_norm_kernels"] == "on":  # BatchNormReLU's passes: statistics summed over devices
    assert calls["cnnjax_CnnjaxBatchNormSums"] == 7 and calls["cnnjax_CnnjaxBatchNormInputGradResidual"] == 3
  teacher_states, student_states = dict(np.load(tmp_path / "one.npz")), dict(np.load(tmp_path / "two.npz"))
  assert teacher_states["loss"][-1] < teacher_states["loss"][0]  # it trains
  teacher_forcing.assert_steps_agree(teacher_states, student_states, TERMS, CONFIG["optimizer"]["momentum"])


@pytest.mark.slow
def test_per_device_batch_norm_with_the_fast_paths_takes_the_plain_steps(tmp_path):
  """Ghost batch norm (shard_map, config.batch_norm_stats="per_device") on 2 devices: the fast blocks, whose
  custom VJPs run inside shard_map, take the plain blocks' steps."""
  teacher = _start(tmp_path, "plain", 2, batch_norm_stats="per_device", fast_paths="off")
  student = _start(tmp_path, "fast", 2, "--student", batch_norm_stats="per_device")
  plain, fast = teacher_forcing.finish(teacher, [student], tmp_path / "plain.npz", TIMEOUT)
  assert plain["fast_paths"]["onednn_convolutions"] == "off: fast_paths=off"
  assert fast["fast_paths"]["onednn_convolutions"] == "on" and fast["custom_calls"]["cnnjax_CnnjaxConvForward"] == 7
  teacher_states, student_states = dict(np.load(tmp_path / "plain.npz")), dict(np.load(tmp_path / "fast.npz"))
  teacher_forcing.assert_steps_agree(teacher_states, student_states, TERMS, CONFIG["optimizer"]["momentum"])
