"""Teacher forcing: two programs of the same training step compared from the same states, with rounding bounds.

Two float32 programs that sum in different orders (other convolution algorithms, device counts,
fusions) drift apart exponentially when each follows its own trajectory, so two free loss curves
measure the chaos of SGD, not the step. Here the teacher trains and saves every state it passes
through; the student takes one step from each of them, so every comparison starts from equal states.

    python -m tests.parallel.teacher_forcing SPEC.json OUT.npz [--student] [PROCESS_ID]

The runner's real train step (cnnjax.scaling.point.build_point) on the fixed synthetic batch of
SPEC, a cnnjax.scaling.point spec file (settings.distributed as there: one process of several;
config.model may also name one of TEST_MODELS, built here and passed to the point). The teacher
saves states 0..steps and each step's loss; the student compiles its own step, then reads the path
of the teacher's file from stdin (so both compile at once) and saves, for each teacher state k, its
loss and the state its step leads to. Arrays are saved per state leaf as "<keypath>" [steps(+1), ...]
by process 0, whose last stdout line is JSON: its runtime settings, fast paths, devices, processes,
global batch and the custom calls and all-gathers of its compiled step.

Bounds (u = 2^-24, float32's unit roundoff; under random rounding a sum of K terms is off by about
sqrt(K) u relative to the sum of its terms' magnitudes, Higham & Mary 2019; the errors of the D
weighted layers of a pass add in quadrature):
- forward values (activations, logits, batch statistics) to rho_fwd = sqrt(D K_fwd + K_bwd) u of
  their scale, where K_fwd = 9 x the widest input (a 3x3 convolution's terms) and K_bwd = N H W of
  the largest map (a batch-statistic or filter-gradient sum over the batch and positions).
  The loss is 2-Lipschitz in the logits relative to itself (|dL| <= 2 L |dz|_inf, as 1 - p <= -log p)
  and log-softmax rounds at the label's logit: |dL| <= 2 L rho_fwd Z + 2 u Z, with Z = 20 >= |logits|.
  Running statistics: (1 - momentum) rho_fwd of the batch's E[x^2] (var) or sqrt(E[x^2]) (mean),
  plus the rounding of the update itself.
- gradients, per layer (kernel, bias, scale together: a bias before batch norm has zero true gradient,
  its float32 value is rounding noise): rho_bwd = KAPPA sqrt(2 D K_bwd) u of the layer's gradient norm,
  as the backward pass recomputes and reverses D layers, and KAPPA = 10 allows for batch-norm scale and
  offset gradients, sums whose terms cancel. The gradient is read from the momentum trace,
  g = trace' - momentum trace, so the trace's own rounding, 2 u |trace'|, is added.
- ReLU (and max-pool) gradients are discontinuous: a unit whose input lies within rounding of 0 can
  take either branch and moves that step's gradients below it by its share (0.2-3% seen in ResNet-20,
  in 1-5 of 20 random steps; such units were found at 2-4e-7 of the activations' scale). So the
  gradient bound must hold in at least a quarter of the steps (a systematic error breaks it in every
  step) and every step must agree to KINK = 10% (a sign, a dropped term or garbage memory is caught
  at whatever step it strikes).
"""

import collections
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from cnnjax.models import resnet
from tests.parallel.bn_cnn import SmallBNCNN

U = 2.0 ** -24  # float32's unit roundoff
KAPPA = 10      # cancellation in batch-norm scale/offset gradients
Z = 20.0        # bound on |logits|
KINK = 0.1      # one ReLU unit on the other branch: 0.2-3% seen
BN_MOMENTUM = 0.9  # the models' batch-norm momentum
TRACE, STATS = ".opt_state[0].trace", ".batch_stats"
# config.model names outside cnnjax's registry; resnet8 takes the fast blocks (oneDNN convolutions, BatchNormReLU)
TEST_MODELS = {"small_bn_cnn": SmallBNCNN, "resnet8": functools.partial(resnet.cifar_resnet, 8)}


def leaves_by_path(state) -> dict[str, jax.Array]:
  return {jax.tree_util.keystr(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(state)}


def on_host(state) -> dict[str, np.ndarray]:
  """The (replicated) state's leaves as numpy arrays, from this process's first device."""
  return {k: np.asarray(v.addressable_data(0)) for k, v in leaves_by_path(state).items()}


def state_loader(template, mesh):
  """A function (arrays, index) -> state number `index` replicated on `mesh`, with `template`'s tree and dtypes."""
  from cnnjax.parallel import mesh as mesh_lib  # pylint: disable=import-outside-toplevel

  paths = list(leaves_by_path(template))
  dtypes = [leaf.dtype for leaf in jax.tree.leaves(template)]
  treedef = jax.tree.structure(template)

  def load(arrays: dict[str, np.ndarray], index: int):
    if set(paths) != set(arrays) - {"loss"}:
      raise ValueError(f"teacher and student states differ in {sorted(set(paths) ^ (set(arrays) - {'loss'}))}")
    leaves = [arrays[p][index].astype(dtype) for p, dtype in zip(paths, dtypes)]
    return jax.tree.unflatten(treedef, mesh_lib.replicate(leaves, mesh))

  return load


def main(argv: list[str]) -> int:
  from cnnjax.scaling import point as point_lib  # pylint: disable=import-outside-toplevel

  spec_path, out_path = argv[1], argv[2]
  student = "--student" in argv[3:]
  config, settings = point_lib.read_spec(spec_path)
  process_ids = [a for a in argv[3:] if a != "--student"]
  point_lib.start_distributed(settings, int(process_ids[0]) if process_ids else None)
  model = None
  if config.model in TEST_MODELS:
    model = TEST_MODELS[config.model](num_classes=config.dataset.num_classes, **config.model_kwargs)
  point = point_lib.build_point(config, settings, model)
  load = state_loader(point.state, point.mesh)
  teacher = dict(np.load(sys.stdin.readline().strip())) if student else None
  states, losses = ([] if student else [on_host(point.state)]), []
  for k in range(settings.steps):
    if student:
      point.state = load(teacher, k)
    _, step_losses = point_lib.run_steps(point, 1, record_losses=True)
    states.append(on_host(point.state))
    losses += step_losses
  if jax.process_index() == 0:
    np.savez(out_path, loss=np.asarray(losses, np.float32), **{k: np.stack([s[k] for s in states]) for k in states[0]})
    print(json.dumps({"runtime_env": {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES", "LD_PRELOAD")},
                      "fast_paths": point.training.fast_paths, "devices": point.mesh.devices.size,
                      "processes": jax.process_count(), "global_batch": point.global_batch,
                      **compiled_calls(point.compiled.as_text())}))
  return 0


def compiled_calls(hlo: str) -> dict:
  """What a compiled step runs: {"custom_calls": {target: count}, "all_gathers": count}."""
  return {"custom_calls": dict(collections.Counter(re.findall(r'custom_call_target="([^"]+)"', hlo))),
          "all_gathers": len(re.findall(r"\ball-gather(?:-start)?\(", hlo))}


def write_spec(path: Path, input_shape, settings: dict, **config) -> Path:
  """A spec file for main(): synthetic_config(input_shape, **config) and cnnjax.scaling.point.Settings(**settings)."""
  from cnnjax.scaling import point as point_lib  # pylint: disable=import-outside-toplevel
  point_lib.write_spec(path, point_lib.synthetic_config(input_shape, **config), point_lib.Settings(**settings))
  return path


def finish(teacher: subprocess.Popen, students: list[subprocess.Popen], teacher_file: Path,
           timeout: float) -> tuple[dict, dict]:
  """Waits for the teacher, hands its file to the students (started with stdin=PIPE; process 0 first) and
  waits for them. Returns the JSON lines of the teacher and of student process 0."""
  from tests.parallel import subprocesses  # pylint: disable=import-outside-toplevel

  try:
    teacher_result = json.loads(subprocesses.finish(teacher, timeout).strip().splitlines()[-1])
    for student in students:
      try:
        student.stdin.write(f"{teacher_file}\n")
        student.stdin.flush()
      except BrokenPipeError:
        pass  # this student failed already; finish() says why
    outputs = [subprocesses.finish(student, timeout) for student in students]
    return teacher_result, json.loads(outputs[0].strip().splitlines()[-1])
  finally:
    for student in students:
      student.kill()  # a no-op once it has exited


def rounding_bounds(depth: int, fwd_terms: int, bwd_terms: int) -> tuple[float, float]:
  """(rho_fwd, rho_bwd) for D = depth weighted layers, K_fwd and K_bwd terms (see the module docstring)."""
  return float(np.sqrt(depth * fwd_terms + bwd_terms) * U), float(KAPPA * np.sqrt(2 * depth * bwd_terms) * U)


def _norms(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, float]:
  """The 2-norm of each layer's leaves under `prefix` (keys "<prefix>['layer']...['leaf']"), by layer."""
  squares = {}
  for key, value in arrays.items():
    if key.startswith(prefix):
      layer = key[:key.rindex("[")]
      squares[layer] = squares.get(layer, 0.0) + float(np.sum(np.square(value, dtype=np.float64)))
  return {layer: np.sqrt(total) for layer, total in squares.items()}


def step_errors(teacher: dict, student: dict, k: int, rho_fwd: float, rho_bwd: float,
                momentum: float) -> tuple[float, float]:
  """Step k from the teacher's state k: (largest layer gradient error over its bound, largest relative one).

  Asserts the loss and the running batch statistics, which are continuous, against their bounds.
  """
  before = {key: v[k].astype(np.float64) for key, v in teacher.items() if key != "loss"}
  after = {key: v[k + 1].astype(np.float64) for key, v in teacher.items() if key != "loss"}
  other = {key: v[k].astype(np.float64) for key, v in student.items() if key != "loss"}
  assert other[".step"] == after[".step"] == k + 1

  loss, other_loss = float(teacher["loss"][k]), float(student["loss"][k])
  assert abs(loss - other_loss) <= 2 * loss * rho_fwd * Z + 2 * U * Z, (k, loss, other_loss)

  batch = {key: (after[key] - BN_MOMENTUM * before[key]) / (1 - BN_MOMENTUM) for key in after if key.startswith(STATS)}
  for key, value in batch.items():
    layer, name = key[:key.rindex("[")], key[key.rindex("["):]
    second_moment = batch[layer + "['var']"] + np.square(batch[layer + "['mean']"])
    scale = np.sqrt(second_moment) if name == "['mean']" else second_moment
    error = np.linalg.norm(after[key] - other[key])
    assert error <= (1 - BN_MOMENTUM) * rho_fwd * np.linalg.norm(scale) + 2 * U * np.linalg.norm(after[key]), (k, key)

  gradient = {key: after[key] - momentum * before[key] for key in after if key.startswith(TRACE)}
  difference = {key: after[key] - other[key] for key in gradient}
  g, d, t = _norms(gradient, TRACE), _norms(difference, TRACE), _norms(after, TRACE)
  over = max(d[layer] / (rho_bwd * g[layer] + 2 * U * t[layer]) for layer in g)
  return over, max(d[layer] / g[layer] for layer in g)


def assert_steps_agree(teacher: dict, student: dict, terms: tuple[int, int, int], momentum: float) -> None:
  """Every step's loss and statistics within rounding; gradients within rounding in a quarter of the steps
  and within KINK in all. `terms`: (D, K_fwd, K_bwd)."""
  steps = len(teacher["loss"])
  assert len(student["loss"]) == steps
  rho_fwd, rho_bwd = rounding_bounds(*terms)
  over, relative = np.array([step_errors(teacher, student, k, rho_fwd, rho_bwd, momentum) for k in range(steps)]).T
  assert np.sum(over <= 1) >= steps / 4, f"gradient error / rounding bound by step: {np.round(over, 2)}"
  assert np.all(relative <= KINK), f"relative gradient error by step: {relative}"


if __name__ == "__main__":
  sys.exit(main(sys.argv))
