"""Data parallelism gives the same mathematics on 1 device, 8 devices and 2 processes x 4 devices.

Each configuration runs the runner's real train step (cnnjax.parallel.synthetic) in a fresh
process on the same global batch of 32, with batch norm over the global batch.
"""

import json

import numpy as np
import pytest

from tests.parallel import subprocesses

SPEC = {"model": "tests.parallel.bn_cnn:SmallBNCNN", "input_shape": [8, 8, 3], "num_classes": 10,
        "steps": 5, "warmup_steps": 0, "record_losses": True, "seed": 3,
        "optimizer": {"learning_rate": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
                      "weight_decay_mode": "l2", "scale_by_batch": False}}
GLOBAL_BATCH = 32
TIMEOUT = 120


def _spec_file(tmp_path, name, **fields) -> str:
  path = tmp_path / f"{name}.json"
  path.write_text(json.dumps({**SPEC, **fields}))
  return str(path)


@pytest.fixture(scope="module")
def single_and_eight(tmp_path_factory):
  """Losses of 1 process x 1 device and 1 process x 8 devices, run side by side."""
  tmp = tmp_path_factory.mktemp("equivalence")
  one = subprocesses.start(["-m", "cnnjax.parallel.synthetic",
                            _spec_file(tmp, "one", devices=1, per_device_batch=GLOBAL_BATCH)], devices=1)
  eight = subprocesses.start(["-m", "cnnjax.parallel.synthetic",
                              _spec_file(tmp, "eight", devices=8, per_device_batch=GLOBAL_BATCH // 8)], devices=8)
  results = [json.loads(subprocesses.finish(p, TIMEOUT).strip().splitlines()[-1]) for p in (one, eight)]
  return results


def test_one_device_and_eight_devices_give_the_same_losses(single_and_eight):
  one, eight = single_and_eight
  assert (one["devices"], eight["devices"]) == (1, 8)
  assert one["global_batch"] == eight["global_batch"] == GLOBAL_BATCH
  assert len(one["losses"]) == 5
  assert one["losses"][-1] < one["losses"][0]  # it trains
  np.testing.assert_allclose(eight["losses"], one["losses"], rtol=1e-5)


def test_two_processes_of_four_devices_equal_one_process_of_eight(single_and_eight, tmp_path):
  _, eight = single_and_eight
  spec = _spec_file(tmp_path, "two_by_four", devices=8, per_device_batch=GLOBAL_BATCH // 8,
                    output=str(tmp_path / "result.json"),
                    distributed={"coordinator_address": f"127.0.0.1:{subprocesses.free_port()}",
                                 "num_processes": 2, "timeout_seconds": 60})
  processes = [subprocesses.start(["-m", "cnnjax.parallel.synthetic", spec, str(i)], devices=4) for i in range(2)]
  for p in processes:
    subprocesses.finish(p, TIMEOUT)
  two = json.loads((tmp_path / "result.json").read_text())
  assert (two["processes"], two["devices"]) == (2, 8)
  np.testing.assert_allclose(two["losses"], eight["losses"], rtol=1e-5)
