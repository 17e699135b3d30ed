"""cnnjax's CPU speed-ups change speed, not the mathematics of a training step.

The `cnnjax` command (cnnjax.runtime) sets XLA CPU flags (YNNPACK fusions, multi-output fusion)
and glibc's huge-page malloc tunable, and preloads the scratch cache; on one CPU device
convolutions run through oneDNN (cnnjax.kernels.onednn), and VGG computes convolutions on maps of
at most 2x2 as slices + matmul (cnnjax.layers.small_conv). ResNet and VGG-BN run each batch norm +
ReLU as one BatchNormReLU (cnnjax.layers.batch_norm_relu). Here the runner's real train step
(cnnjax.parallel.synthetic, through tests/perf/step_worker.py) runs in two fresh processes: one
optimised, one plain (no XLA flags beyond the machine's, no malloc tunables or scratch cache, lax
convolutions only: CNNJAX_ONEDNN=0, nn.BatchNorm then ReLU).
Models: a CIFAR ResNet-20 on 16x16 inputs, and a narrow VGG-11-BN on 32x32 (its last stage is 2x2).

Teacher forcing: the optimised run (the teacher) trains 20 steps on one fixed batch and saves every
state it passes through; the plain run (the student) takes one step from each of those states; the
two steps' losses, gradients and batch statistics are compared state by state. Two float32 programs
that sum in different orders drift apart exponentially when each follows its own trajectory (1e-7
at step 0 became 5e-4 relative by step 3 on an AVX2-only host), so two free loss curves measure the
chaos of SGD on a memorised batch, not the step. From a common state the two steps differ by
rounding alone, bounded as follows (u = 2^-24, float32's unit roundoff; under random rounding a sum
of K terms is off by about sqrt(K) u relative to the sum of its terms' magnitudes, Higham & Mary
2019; the errors of the D weighted layers of a pass add in quadrature):
- forward values (activations, logits, batch statistics) to rho_fwd = sqrt(D K_fwd + K_bwd) u of
  their scale, where K_fwd = 9 x the widest input (a 3x3 convolution's terms) and K_bwd = N H W of
  the largest map (a batch-statistic or filter-gradient sum over the batch and positions).
  The loss is 2-Lipschitz in the logits relative to itself (|dL| <= 2 L |dz|_inf, as 1 - p <= -log p)
  and log-softmax rounds at the label's logit: |dL| <= 2 L rho_fwd Z + 2 u Z, with Z = 20 >= |logits|
  (13 after 20 steps). Running statistics: (1 - momentum) rho_fwd of the batch's E[x^2] (var) or
  sqrt(E[x^2]) (mean), plus the rounding of the update itself.
- gradients, per layer (kernel, bias, scale together: a bias before batch norm has zero true gradient,
  its float32 value is rounding noise): rho_bwd = KAPPA sqrt(2 D K_bwd) u of the layer's gradient norm,
  as the backward pass recomputes and reverses D layers, and KAPPA = 10 allows for batch-norm scale and
  offset gradients, sums whose terms cancel. The gradient is read from the momentum trace,
  g = trace' - momentum trace, so the trace's own rounding, 2 u |trace'|, is added.
  ResNet-20: rho_fwd 7e-6, rho_bwd 2.4e-4; narrow VGG: 8e-6, 3.6e-4. Seen: up to 1e-6 and 2e-5;
  a filter gradient 1% off is 40x the bound.
- ReLU (and max-pool) gradients are discontinuous: a unit whose input lies within rounding of 0 can
  take either branch and moves that step's gradients below it by its share, 0.2-3% here, in a few
  random steps (1-5 of 20, AVX-512 or AVX2; such units were found at 2-4e-7 of the activations'
  scale). So the gradient bound must hold in at least a quarter of the steps (a systematic error
  breaks it in every step) and every step must agree to KINK = 10% (a sign, a dropped term or
  garbage memory is caught at whatever step it strikes).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnjax import runtime
from cnnjax.kernels import build, onednn
from tests.parallel import subprocesses

STEPS = 20
SPEC = {"num_classes": 10, "per_device_batch": 16, "steps": STEPS, "warmup_steps": 0, "seed": 0,
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
# name -> (D weighted layers, K_fwd terms of the widest 3x3 convolution, K_bwd = N H W of the largest map)
TERMS = {"cifar_resnet20": (19 + 1, 9 * 64, 16 * 16 * 16), "vgg11_bn_narrow": (8 + 3, 9 * 32, 16 * 32 * 32)}
U = 2.0 ** -24  # float32's unit roundoff
KAPPA = 10      # cancellation in batch-norm scale/offset gradients
Z = 20.0        # bound on |logits|
KINK = 0.1      # one ReLU unit on the other branch: 0.2-3% seen
BN_MOMENTUM = 0.9
TIMEOUT = 180


def onednn_state() -> str:
  """What the optimised run reports: "on" where the library is built (CI builds it), else why not."""
  reason = onednn.unavailable_reason()
  return f"off: {reason}" if reason else "on"


def _machine_xla_flags(xla_flags: str) -> str:
  """`xla_flags` without the flags cnnjax sets: what the machine or user set (e.g. --xla_cpu_max_isa=AVX2)."""
  cnnjax_flags = {**runtime.XLA_CPU_FLAGS, **runtime.MULTI_OUTPUT_FUSION_FLAGS}
  return " ".join(f for f in xla_flags.split() if f.split("=")[0] not in cnnjax_flags)


def _start(spec_path, out_path, optimised: bool) -> subprocess.Popen:
  """The teacher (optimised) or the student (plain), with the machine's own XLA flags (e.g. --xla_cpu_max_isa)."""
  env = subprocesses.cpu_env(1)
  switch = "1" if optimised else "0"
  env.update({"CNNJAX_XLA_CPU_FLAGS": switch, "CNNJAX_HUGEPAGES": switch, runtime.SCRATCH_CACHE_ENV: switch,
              "CNNJAX_ONEDNN": switch, "GLIBC_TUNABLES": "", "LD_PRELOAD": "",
              "XLA_FLAGS": _machine_xla_flags(env["XLA_FLAGS"])})
  if optimised:
    runtime.set_xla_flags(env, multi_output_fusion=True)  # every flag cnnjax may set
    env = runtime.allocator_reexec_env(env) or env
  args = [sys.executable, "-m", "tests.perf.step_worker", str(spec_path), str(out_path)]
  return subprocess.Popen(args + ([] if optimised else ["--student"]), env=env, cwd=subprocesses.ROOT,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _norms(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, float]:
  """The 2-norm of each layer's leaves under `prefix` (keys "<prefix>['layer']...['leaf']"), by layer."""
  squares = {}
  for key, value in arrays.items():
    if key.startswith(prefix):
      layer = key[:key.rindex("[")]
      squares[layer] = squares.get(layer, 0.0) + float(np.sum(np.square(value, dtype=np.float64)))
  return {layer: np.sqrt(total) for layer, total in squares.items()}


def _step_errors(teacher, student, k: int, rho_bwd: float, rho_fwd: float, momentum: float) -> tuple[float, float]:
  """Step k from the teacher's state k: (largest gradient error over its bound, largest relative one).

  Also asserts the loss and batch statistics, which are continuous, against their bounds.
  """
  before = {key: v[k].astype(np.float64) for key, v in teacher.items() if key != "loss"}
  after = {key: v[k + 1].astype(np.float64) for key, v in teacher.items() if key != "loss"}
  other = {key: v[k].astype(np.float64) for key, v in student.items() if key != "loss"}
  assert other[".step"] == after[".step"] == k + 1

  loss, other_loss = float(teacher["loss"][k]), float(student["loss"][k])
  assert abs(loss - other_loss) <= 2 * loss * rho_fwd * Z + 2 * U * Z, (k, loss, other_loss)

  stats = ".batch_stats"
  batch = {key: (after[key] - BN_MOMENTUM * before[key]) / (1 - BN_MOMENTUM) for key in after if key.startswith(stats)}
  for key in batch:
    if key.endswith("['mean']"):
      second_moment = batch[key[:-len("['mean']")] + "['var']"] + np.square(batch[key])
      scale = np.sqrt(second_moment)
    else:
      scale = batch[key] + np.square(batch[key[:-len("['var']")] + "['mean']"])
    error = np.linalg.norm(after[key] - other[key])
    assert error <= (1 - BN_MOMENTUM) * rho_fwd * np.linalg.norm(scale) + 2 * U * np.linalg.norm(after[key]), (k, key)

  trace = ".opt_state[0].trace"
  gradient = {key: after[key] - momentum * before[key] for key in after if key.startswith(trace)}
  difference = {key: after[key] - other[key] for key in gradient}
  g, d, t = _norms(gradient, trace), _norms(difference, trace), _norms(after, trace)
  over = max(d[layer] / (rho_bwd * g[layer] + 2 * U * t[layer]) for layer in g)
  return over, max(d[layer] / g[layer] for layer in g)


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimised_step_matches_the_plain_step_from_each_state(tmp_path, case):
  optimised_spec, plain_kwargs = CASES[case]
  specs = {"optimised": {**SPEC, **optimised_spec},
           "plain": {**SPEC, **optimised_spec,
                     "model_kwargs": {**optimised_spec.get("model_kwargs", {}), **plain_kwargs}}}
  processes = {}
  for name, spec in specs.items():  # both compile at once; the student then waits for the teacher's states
    (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    processes[name] = _start(tmp_path / f"{name}.json", tmp_path / f"{name}.npz", name == "optimised")
  try:
    optimised = json.loads(subprocesses.finish(processes["optimised"], TIMEOUT).strip().splitlines()[-1])
    try:
      processes["plain"].stdin.write(f"{tmp_path / 'optimised.npz'}\n")
      processes["plain"].stdin.flush()
    except BrokenPipeError:
      pass  # the student failed already; finish() reports why
    plain = json.loads(subprocesses.finish(processes["plain"], TIMEOUT).strip().splitlines()[-1])
  finally:
    processes["plain"].kill()  # a no-op once it has exited

  cnnjax_flags = {**runtime.XLA_CPU_FLAGS, **runtime.MULTI_OUTPUT_FUSION_FLAGS}
  for flag, value in cnnjax_flags.items():
    assert f"{flag}={value}" in optimised["runtime_env"]["XLA_FLAGS"].split()
  assert not set(cnnjax_flags) & {f.split("=")[0] for f in plain["runtime_env"]["XLA_FLAGS"].split()}
  machine_flags = set(_machine_xla_flags(os.environ.get("XLA_FLAGS", "")).split())  # e.g. --xla_cpu_max_isa=AVX2
  for result in (optimised, plain):
    assert machine_flags <= set(result["runtime_env"]["XLA_FLAGS"].split())
  assert "glibc.malloc.hugetlb=1" in optimised["runtime_env"]["GLIBC_TUNABLES"]
  scratch_cache = str(build.SCRATCH_CACHE_LIBRARY)
  assert (scratch_cache in optimised["runtime_env"]["LD_PRELOAD"]) == build.SCRATCH_CACHE_LIBRARY.exists()
  assert scratch_cache not in plain["runtime_env"]["LD_PRELOAD"]
  assert optimised["onednn_convolutions"] == onednn_state() and plain["onednn_convolutions"] == "off: CNNJAX_ONEDNN=0"

  teacher, student = dict(np.load(tmp_path / "optimised.npz")), dict(np.load(tmp_path / "plain.npz"))
  losses = teacher["loss"]
  assert len(losses) == len(student["loss"]) == STEPS
  assert losses[-1] < losses[0] - 0.1 and np.all(losses[1:6] < losses[0])  # it trains on the fixed batch

  depth, fwd_terms, bwd_terms = TERMS[case]
  rho_fwd = np.sqrt(depth * fwd_terms + bwd_terms) * U
  rho_bwd = KAPPA * np.sqrt(2 * depth * bwd_terms) * U
  errors = [_step_errors(teacher, student, k, rho_bwd, rho_fwd, SPEC["optimizer"]["momentum"]) for k in range(STEPS)]
  over, relative = np.array(errors).T
  assert np.sum(over <= 1) >= STEPS / 4, f"gradient error / rounding bound by step: {np.round(over, 2)}"
  assert np.all(relative <= KINK), f"relative gradient error by step: {relative}"
