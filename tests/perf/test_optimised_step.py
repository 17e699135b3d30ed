"""cnnjax's CPU speed-ups change speed, not the mathematics of a training step.

The `cnnjax` command (cnnjax.runtime) sets XLA CPU flags (YNNPACK fusions, multi-output fusion)
and glibc's huge-page malloc tunable, and preloads the scratch cache; on one CPU device
convolutions run through oneDNN (cnnjax.kernels.onednn), and VGG computes convolutions on maps of
at most 2x2 as slices + matmul (cnnjax.layers.small_conv). ResNet and VGG-BN run each batch norm +
ReLU as one BatchNormReLU (cnnjax.layers.batch_norm_relu). Here the runner's real train step
(cnnjax.parallel.synthetic) trains a model for 20 steps on one fixed batch twice, in two fresh
processes: once optimised and once plain (no XLA flags, malloc tunables or scratch cache, lax
convolutions only: CNNJAX_ONEDNN=0, nn.BatchNorm then ReLU).
Models: a CIFAR ResNet-20 on 16x16 inputs, and a narrow VGG-11-BN on 32x32 (its last stage is 2x2).

Tolerances: the two programs sum convolutions in different orders, so float32 rounding
differs from the first step (about 1e-7 relative) and SGD then amplifies it. While the loss is
large (steps 0-5, loss > 0.1) the curves must agree to 1e-4 relative, where 1e-6 was observed;
later the fixed batch is memorised, the loss falls towards 2e-3 and its relative differences
reach about 3e-3 (absolute about 1e-5), so all 20 steps are checked to 1e-2 relative or 1e-4
absolute. A real change of the step (a wrong gradient, a dropped term) moves losses by far more.
The narrow VGG's N(0, 0.01) classifier keeps its loss near 2.1-2.3, where float32 resolves about
2e-7: its two curves came out bitwise equal; the slices + matmul themselves are checked against
lax, values and gradients, in tests/layers/test_small_conv.py.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from cnnjax import runtime
from cnnjax.kernels import build, onednn
from tests.parallel import subprocesses

SPEC = {"num_classes": 10, "per_device_batch": 16, "steps": 20, "warmup_steps": 0, "record_losses": True, "seed": 0,
        "optimizer": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
                      "weight_decay_mode": "l2", "scale_by_batch": False}}
NARROW_VGG = {"stages": [[8], [16], [16, 16], [32, 32], [32, 32]], "hidden_size": 32, "pool_size": [1, 1],
              "dropout_rate": 0.0}
# name -> (spec of the optimised run, model_kwargs that turn the model's own speed-ups off for the plain run)
CASES = {
    "cifar_resnet20": ({"model": "cifar_resnet20", "input_shape": [16, 16, 3]}, {"fused_norm_relu": False}),
    "vgg11_bn_narrow": ({"model": "vgg11_bn", "input_shape": [32, 32, 3], "model_kwargs": NARROW_VGG,
                         "optimizer": {**SPEC["optimizer"], "learning_rate": 0.2}},
                        {"conv_op": None, "fused_norm_relu": False}),
}
TIMEOUT = 180


def onednn_state() -> str:
  """What the optimised run reports: "on" where the library is built (CI builds it), else why not."""
  reason = onednn.unavailable_reason()
  return f"off: {reason}" if reason else "on"


def _start(spec_path, optimised: bool):
  env = subprocesses.cpu_env(1)
  switch = "1" if optimised else "0"
  env.update({"CNNJAX_XLA_CPU_FLAGS": switch, "CNNJAX_HUGEPAGES": switch, runtime.SCRATCH_CACHE_ENV: switch,
              "CNNJAX_ONEDNN": switch, "XLA_FLAGS": "", "GLIBC_TUNABLES": "", "LD_PRELOAD": ""})
  if optimised:
    runtime.set_xla_flags(env, multi_output_fusion=True)  # every flag cnnjax may set
    env = runtime.allocator_reexec_env(env) or env
  return subprocess.Popen([sys.executable, "-m", "cnnjax.parallel.synthetic", str(spec_path)], env=env,
                          cwd=subprocesses.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimised_step_follows_the_plain_loss_curve(tmp_path, case):
  optimised_spec, plain_kwargs = CASES[case]
  specs = {"optimised": {**SPEC, **optimised_spec},
           "plain": {**SPEC, **optimised_spec,
                     "model_kwargs": {**optimised_spec.get("model_kwargs", {}), **plain_kwargs}}}
  processes = {}
  for name, spec in specs.items():
    (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    processes[name] = _start(tmp_path / f"{name}.json", name == "optimised")
  results = {name: json.loads(subprocesses.finish(p, TIMEOUT).strip().splitlines()[-1])
             for name, p in processes.items()}
  optimised, plain = results["optimised"], results["plain"]

  for flag, value in {**runtime.XLA_CPU_FLAGS, **runtime.MULTI_OUTPUT_FUSION_FLAGS}.items():
    assert f"{flag}={value}" in optimised["runtime_env"]["XLA_FLAGS"].split()
  assert plain["runtime_env"]["XLA_FLAGS"] == ""
  assert "glibc.malloc.hugetlb=1" in optimised["runtime_env"]["GLIBC_TUNABLES"]
  scratch_cache = str(build.SCRATCH_CACHE_LIBRARY)
  assert (scratch_cache in optimised["runtime_env"]["LD_PRELOAD"]) == build.SCRATCH_CACHE_LIBRARY.exists()
  assert scratch_cache not in plain["runtime_env"]["LD_PRELOAD"]
  assert optimised["onednn_convolutions"] == onednn_state() and plain["onednn_convolutions"] == "off: CNNJAX_ONEDNN=0"

  fast, slow = np.array(optimised["losses"]), np.array(plain["losses"])
  assert len(fast) == len(slow) == 20
  for losses in (fast, slow):  # both train on the fixed batch
    assert losses[-1] < losses[0] - 0.1
    assert np.all(losses[1:6] < losses[0])
  np.testing.assert_allclose(fast[:6], slow[:6], rtol=1e-4)
  np.testing.assert_allclose(fast, slow, rtol=1e-2, atol=1e-4)
