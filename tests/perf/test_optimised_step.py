"""cnnjax's CPU speed-ups change speed, not the mathematics of a training step.

The `cnnjax` command (cnnjax.fast.process) sets XLA CPU flags (YNNPACK fusions, multi-output fusion)
and glibc's huge-page malloc tunable, and preloads the scratch cache; on one CPU device
convolutions run through oneDNN (cnnjax.kernels.onednn; cnnjax's Winograd kernel where it pays),
and VGG computes convolutions on maps of at most 2x2 as slices + matmul (cnnjax.fast.small_map_conv).
ResNet and VGG-BN run each batch norm + ReLU as one BatchNormReLU (cnnjax.fast.batch_norm_relu, through
cnnjax.kernels.batch_norm), and VGG max-pools through cnnjax.kernels.max_pool. Here the runner's real train step
(cnnjax.scaling.point, through tests/parallel/teacher_forcing.py) runs in two fresh processes: one
optimised (config.fast_paths="auto" and every process setting), one plain (config.fast_paths="off":
the models' flax blocks, lax convolutions, BatchNorm then ReLU; no XLA flags beyond the machine's,
no malloc tunables or scratch cache).
Models: a CIFAR ResNet-20 on 16x16 inputs, and a narrow VGG-11-BN on 32x32 (its last stage is 2x2).

Teacher forcing (tests/parallel/teacher_forcing.py, where the bounds are derived): the optimised run
trains 20 steps on one fixed batch and saves every state it passes through; the plain run takes one
step from each of those states; losses, batch statistics and per-layer gradients must agree to
float32 rounding bounds. Two free loss curves, compared before, drifted apart chaotically (1e-7 at
step 0 became 5e-4 relative by step 3 on an AVX2-only host). Bounds for ResNet-20 (D = 20 weighted
layers, K_fwd = 9 x 64, K_bwd = 16 x 16 x 16): rho_fwd 7e-6, rho_bwd 2.4e-4; narrow VGG (D = 11,
9 x 32, 16 x 32 x 32): 8e-6, 3.6e-4. Seen: up to 1e-6 and 2e-5; a filter gradient 1% off is 40x the
gradient bound. ReLU-kink steps (a unit within rounding of 0 takes the other branch; 0.2-3% here, in
1-5 of 20 steps with AVX-512 or AVX2) are held to 10% only.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from cnnjax.fast import process
from cnnjax.kernels import build, onednn
from tests.parallel import subprocesses, teacher_forcing

STEPS = 20
SETTINGS = {"devices": 1, "steps": STEPS, "warmup_steps": 0}
OPTIMIZER = {"learning_rate": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
             "weight_decay_mode": "l2", "scale_by_batch": False}
CONFIG = {"batch_size": 16, "seed": 0, "schedule": {"name": "constant"}, "optimizer": OPTIMIZER}
NARROW_VGG = {"stages": [[8], [16], [16, 16], [32, 32], [32, 32]], "hidden_size": 32, "pool_size": [1, 1],
              "dropout_rate": 0.0}
# name -> (input shape, config overrides); the plain run adds fast_paths="off"
CASES = {
    "cifar_resnet20": ((16, 16, 3), {"model": "cifar_resnet20"}),
    "vgg11_bn_narrow": ((32, 32, 3), {"model": "vgg11_bn", "model_kwargs": NARROW_VGG,
                                      "optimizer": {**OPTIMIZER, "learning_rate": 0.2}}),
}
# name -> (D weighted layers, K_fwd terms of the widest 3x3 convolution, K_bwd = N H W of the largest map)
TERMS = {"cifar_resnet20": (19 + 1, 9 * 64, 16 * 16 * 16), "vgg11_bn_narrow": (8 + 3, 9 * 32, 16 * 32 * 32)}
TIMEOUT = 180


def onednn_state() -> str:
  """What the optimised run reports: "on" where the library is built (CI builds it), else why not."""
  reason = onednn.unavailable_reason()
  return f"off: {reason}" if reason else "on"


def _machine_xla_flags(xla_flags: str) -> str:
  """`xla_flags` without the flags cnnjax sets: what the machine or user set (e.g. --xla_cpu_max_isa=AVX2)."""
  cnnjax_flags = {**process.XLA_CPU_FLAGS, **process.MULTI_OUTPUT_FUSION_FLAGS}
  return " ".join(f for f in xla_flags.split() if f.split("=")[0] not in cnnjax_flags)


def _start(spec_path, out_path, optimised: bool) -> subprocess.Popen:
  """The teacher (optimised) or the student (plain), with the machine's own XLA flags (e.g. --xla_cpu_max_isa).

  The plain run's convolutions are lax's through config.fast_paths="off" alone: CNNJAX_ONEDNN is left unset.
  """
  env = subprocesses.cpu_env(1)
  switch = "1" if optimised else "0"
  env.pop(onednn.DISABLE_ENV, None)
  env.update({"CNNJAX_XLA_CPU_FLAGS": switch, "CNNJAX_HUGEPAGES": switch, process.SCRATCH_CACHE_ENV: switch,
              "GLIBC_TUNABLES": "", "LD_PRELOAD": "", "XLA_FLAGS": _machine_xla_flags(env["XLA_FLAGS"])})
  if optimised:
    env[onednn.DISABLE_ENV] = "1"
  if optimised:
    process.set_xla_flags(env, multi_output_fusion=True)  # every flag cnnjax may set
    env = process.allocator_reexec_env(env) or env
  args = [sys.executable, "-m", "tests.parallel.teacher_forcing", str(spec_path), str(out_path)]
  return subprocess.Popen(args + ([] if optimised else ["--student"]), env=env, cwd=subprocesses.ROOT,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimised_step_matches_the_plain_step_from_each_state(tmp_path, case):
  input_shape, overrides = CASES[case]
  configs = {"optimised": {**CONFIG, **overrides, "fast_paths": "auto"},
             "plain": {**CONFIG, **overrides, "fast_paths": "off"}}
  processes = {}
  for name, config in configs.items():  # both compile at once; the student then waits for the teacher's states
    spec = teacher_forcing.write_spec(tmp_path / f"{name}.json", input_shape, SETTINGS, **config)
    processes[name] = _start(spec, tmp_path / f"{name}.npz", name == "optimised")
  optimised, plain = teacher_forcing.finish(processes["optimised"], [processes["plain"]], tmp_path / "optimised.npz",
                                            TIMEOUT)

  cnnjax_flags = {**process.XLA_CPU_FLAGS, **process.MULTI_OUTPUT_FUSION_FLAGS}
  for flag, value in cnnjax_flags.items():
    assert f"{flag}={value}" in optimised["runtime_env"]["XLA_FLAGS"].split()
  assert not set(cnnjax_flags) & {f.split("=")[0] for f in plain["runtime_env"]["XLA_FLAGS"].split()}
  machine_flags = set(_machine_xla_flags(os.environ.get("XLA_FLAGS", "")).split())  # e.g. --xla_cpu_max_isa=AVX2
  for result in (optimised, plain):
    assert machine_flags <= set(result["runtime_env"]["XLA_FLAGS"].split())
  assert "glibc.malloc.hugetlb=1" in optimised["runtime_env"]["GLIBC_TUNABLES"]
  scratch_cache = str(build.library_path("scratch_cache"))
  assert (scratch_cache in optimised["runtime_env"]["LD_PRELOAD"]) == build.library_path("scratch_cache").exists()
  assert scratch_cache not in plain["runtime_env"]["LD_PRELOAD"]
  assert optimised["fast_paths"]["mode"] == "auto" and optimised["fast_paths"]["onednn_convolutions"] == onednn_state()
  assert optimised["fast_paths"]["norm_act"] == "BatchNormReLU"
  plain_blocks = {"conv": "Conv", "norm": "BatchNorm", "norm_act": "norm + activation"}
  if case.startswith("vgg"):
    plain_blocks["max_pool"] = "max_pool"
    assert optimised["fast_paths"]["max_pool"] == "max_pool(kernels.max_pool)"
  assert optimised["fast_paths"]["winograd_convolutions"] == (onednn.winograd_status() if onednn_state() == "on"
                                                              else "off: oneDNN convolutions are off")
  assert plain["fast_paths"] == {"mode": "off", "onednn_convolutions": "off: fast_paths=off",
                                 "batch_norm_kernels": "off: fast_paths=off",
                                 "max_pool_kernels": "off: fast_paths=off",
                                 "winograd_convolutions": "off: fast_paths=off", **plain_blocks}

  teacher, student = dict(np.load(tmp_path / "optimised.npz")), dict(np.load(tmp_path / "plain.npz"))
  losses = teacher["loss"]
  assert len(losses) == STEPS
  assert losses[-1] < losses[0] - 0.1 and np.all(losses[1:6] < losses[0])  # it trains on the fixed batch
  teacher_forcing.assert_steps_agree(teacher, student, TERMS[case], OPTIMIZER["momentum"])
