"""cnnjax's CPU runtime settings change speed, not the mathematics of a training step.

The `cnnjax` command (cnnjax.runtime) sets XLA CPU flags (YNNPACK convolutions one at a time,
multi-output fusion) and preloads tcmalloc. Here the runner's real train step
(cnnjax.parallel.synthetic) trains a CIFAR ResNet-20 for 20 steps on one fixed batch twice, in
two fresh processes: once with those settings and once plain (no XLA flags, glibc malloc).

Tolerances: the two programs sum convolutions in different orders, so float32 rounding
differs from the first step (about 1e-7 relative) and SGD then amplifies it. While the loss is
large (steps 0-5, loss > 0.1) the curves must agree to 1e-4 relative, where 1e-6 was observed;
later the fixed batch is memorised, the loss falls towards 2e-3 and its relative differences
reach about 3e-3 (absolute about 1e-5), so all 20 steps are checked to 1e-2 relative or 1e-4
absolute. A real change of the step (a wrong gradient, a dropped term) moves losses by far more.
"""

import json
import subprocess
import sys

import numpy as np

from cnnjax import runtime
from tests.parallel import subprocesses

SPEC = {"model": "cifar_resnet20", "input_shape": [16, 16, 3], "num_classes": 10, "per_device_batch": 16,
        "steps": 20, "warmup_steps": 0, "record_losses": True, "seed": 0,
        "optimizer": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
                      "weight_decay_mode": "l2", "scale_by_batch": False}}
TIMEOUT = 180


def _start(spec_path, optimised: bool):
  env = subprocesses.cpu_env(1)
  env.update({"CNNJAX_XLA_CPU_FLAGS": "1" if optimised else "0", "CNNJAX_TCMALLOC": "1" if optimised else "0",
              "XLA_FLAGS": "", "LD_PRELOAD": ""})
  if optimised:
    runtime.set_xla_flags(env)
    env = runtime.tcmalloc_reexec_env(env) or env
  return subprocess.Popen([sys.executable, "-m", "cnnjax.parallel.synthetic", str(spec_path)], env=env,
                          cwd=subprocesses.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_optimised_step_follows_the_plain_loss_curve(tmp_path):
  spec_path = tmp_path / "spec.json"
  spec_path.write_text(json.dumps(SPEC))
  processes = {name: _start(spec_path, name == "optimised") for name in ("optimised", "plain")}
  results = {name: json.loads(subprocesses.finish(p, TIMEOUT).strip().splitlines()[-1])
             for name, p in processes.items()}
  optimised, plain = results["optimised"], results["plain"]

  for flag, value in runtime.XLA_CPU_FLAGS.items():
    assert f"{flag}={value}" in optimised["runtime_env"]["XLA_FLAGS"].split()
  assert plain["runtime_env"]["XLA_FLAGS"] == ""
  if runtime.tcmalloc_library():
    assert "tcmalloc" in optimised["runtime_env"]["LD_PRELOAD"]

  fast, slow = np.array(optimised["losses"]), np.array(plain["losses"])
  assert len(fast) == len(slow) == 20
  for losses in (fast, slow):  # both train: the fixed batch is being memorised
    assert losses[-1] < 0.1 * losses[0]
    assert np.all(losses[1:6] < losses[0])
  np.testing.assert_allclose(fast[:6], slow[:6], rtol=1e-4)
  np.testing.assert_allclose(fast, slow, rtol=1e-2, atol=1e-4)
