"""The runner's real train step (cnnjax.parallel.synthetic) as teacher or student, for test_optimised_step.py.

    python -m tests.perf.step_worker SPEC.json OUT.npz            # teacher
    python -m tests.perf.step_worker SPEC.json OUT.npz --student  # student; reads the teacher's OUT.npz path on stdin

The teacher trains spec["steps"] steps on the fixed synthetic batch and saves every state it passes
through (states 0..steps) and each step's loss. The student compiles its own step, then waits for the
path of the teacher's file on stdin (so both compile at once) and takes one step from each of the
teacher's states 0..steps-1: its losses and resulting states are the teacher's step recomputed by
another program from the same state. Arrays are saved per state leaf as "<keypath>" [steps(+1), ...];
the last stdout line is JSON: this process's runtime settings and convolution path.
"""

import json
import os
import sys

import jax
import numpy as np

from cnnjax.layers import cpu_conv
from cnnjax.parallel import synthetic


def leaves_by_path(state) -> dict[str, jax.Array]:
  return {jax.tree_util.keystr(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(state)}


def on_host(state) -> dict[str, np.ndarray]:
  return {k: np.asarray(v) for k, v in leaves_by_path(state).items()}


def state_loader(template):
  """A function (arrays, index) -> the state like `template` (tree, dtypes, shardings) holding state `index`."""
  paths = list(leaves_by_path(template))
  placements = [(leaf.dtype, leaf.sharding) for leaf in jax.tree.leaves(template)]
  treedef = jax.tree.structure(template)

  def load(arrays: dict[str, np.ndarray], index: int):
    if set(paths) != set(arrays) - {"loss"}:
      raise ValueError(f"teacher and student states differ in {sorted(set(paths) ^ (set(arrays) - {'loss'}))}")
    return jax.tree.unflatten(treedef, [jax.device_put(arrays[p][index].astype(dtype), sharding)
                                        for p, (dtype, sharding) in zip(paths, placements)])

  return load


def main(argv: list[str]) -> int:
  spec_path, out_path = argv[1], argv[2]
  student = "--student" in argv[3:]
  with open(spec_path) as f:
    point = synthetic.build_point(json.load(f))
  load = state_loader(point.state)
  teacher = dict(np.load(sys.stdin.readline().strip())) if student else None
  states, losses = ([] if student else [on_host(point.state)]), []
  for k in range(point.spec["steps"]):
    if student:
      point.state = load(teacher, k)
    _, step_losses = synthetic.run_steps(point, 1, record_losses=True)
    states.append(on_host(point.state))
    losses += step_losses
  np.savez(out_path, loss=np.asarray(losses, np.float32), **{k: np.stack([s[k] for s in states]) for k in states[0]})
  print(json.dumps({"runtime_env": {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES", "LD_PRELOAD")},
                    "onednn_convolutions": cpu_conv.onednn_status()}))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
