"""Runs the real training step on synthetic data over a device mesh, timing it or recording losses.

The measurement behind `cnnjax scale` (one point per fresh process, so the simulated CPU
device count can change) and the harness of the device-count invariance tests. It imports only
jax/flax/optax/numpy and cnnjax's model and step code: no tfds, no TensorFlow, no ml_collections.

    python -m cnnjax.parallel.synthetic SPEC.json [PROCESS_ID]

SPEC.json holds the fields of `DEFAULT_SPEC`; the result (JSON) goes to spec["output"].
"""

import dataclasses
import functools
import importlib
import json
import os
import resource
import sys
import time
from typing import Any

import jax
import numpy as np

from cnnjax.fast import process
from cnnjax.fast import onednn_conv

DEFAULT_SPEC = {
    "model": "lenet5",            # registry name, or "package.module:factory"
    "model_kwargs": {},
    "num_classes": 10,
    "input_shape": [28, 28, 1],   # [H, W, C]
    "devices": 1,                 # the first `devices` devices of jax.devices(); all of them if multi-process
    "per_device_batch": 32,
    "steps": 10,                  # measured steps, after compilation and `warmup_steps`
    "warmup_steps": 2,
    "batch_norm_stats": "global",
    "task": "classification",
    "seed": 0,
    "optimizer": {"learning_rate": 0.05, "scale_by_batch": False, "momentum": 0.9, "nesterov": False,
                  "weight_decay": 5e-4, "weight_decay_mode": "l2"},
    "schedule": {"name": "constant", "warmup_epochs": 0.0, "boundaries_epochs": [], "decay_factor": 0.1},
    "augment": {},
    "record_losses": False,       # also return the loss of every step (tests)
    "distributed": None,          # {"coordinator_address": "host:port", "num_processes": n}
    "output": None,
}


class Fields(dict):
  """A dict read like a ConfigDict (`c.name`, `c.get`), so optim's helpers need no ml_collections."""

  def __getattr__(self, key):
    try:
      return self[key]
    except KeyError as e:
      raise AttributeError(key) from e


def resolve_model(name: str, **kwargs):
  """A registered model, or any linen module factory named "package.module:attribute"."""
  if ":" in name:
    module, attribute = name.split(":", 1)
    return getattr(importlib.import_module(module), attribute)(**kwargs)
  from cnnjax.models import get_model
  return get_model(name, **kwargs)


def synthetic_batch(global_batch: int, input_shape, num_classes: int, seed: int) -> dict[str, np.ndarray]:
  """A fixed random batch: standard-normal float32 images and uniform int32 labels, same on every process."""
  rs = np.random.RandomState(seed)
  return {"image": rs.standard_normal((global_batch, *input_shape)).astype(np.float32),
          "label": rs.randint(0, num_classes, global_batch).astype(np.int32)}


def peak_memory_bytes(devices) -> tuple[int | None, str]:
  """Peak device memory in use (accelerators) or this process's peak resident set size (CPU)."""
  if devices[0].platform != "cpu":
    peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in devices if d.process_index
             == jax.process_index()]
    peaks = [p for p in peaks if p is not None]
    if peaks:
      return int(max(peaks)), "peak_bytes_in_use per device (max over devices)"
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "peak RSS of the process"


@dataclasses.dataclass
class Point:
  """A compiled training step with its state, batch and key: what `run_steps` advances."""

  spec: dict
  model: Any
  mesh: Any
  compiled: Any
  state: Any
  batch: dict
  step_rng: jax.Array
  global_batch: int
  input_shape: tuple[int, ...]
  compile_seconds: float
  metrics: dict | None = None


def build_point(spec: dict) -> Point:
  """Builds the model and state and compiles the real train step for `spec` (fields of DEFAULT_SPEC)."""
  from cnnjax.parallel import data_parallel, mesh as mesh_lib
  from cnnjax.train import optim, steps, tasks
  from cnnjax.train.state import create_train_state

  spec = {**DEFAULT_SPEC, **spec}
  all_devices = jax.devices()
  if spec["devices"] > len(all_devices):
    raise ValueError(f"{spec['devices']} devices asked for but only {len(all_devices)} are present "
                     f"({all_devices[0].platform}); on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N")
  if jax.process_count() > 1 and spec["devices"] != len(all_devices):
    raise ValueError("a multi-process run uses every device; set devices to jax.device_count()")
  mesh = mesh_lib.make_data_mesh(all_devices[:spec["devices"]])
  global_batch = spec["per_device_batch"] * spec["devices"]
  input_shape = tuple(spec["input_shape"])

  opt_config, sched_config = Fields(spec["optimizer"]), Fields(spec["schedule"])
  total_steps = spec["warmup_steps"] + spec["steps"]
  base_lr = optim.base_learning_rate(opt_config, global_batch)
  schedule = optim.make_schedule(sched_config, base_lr, max(1, total_steps), total_steps)
  tx = optim.make_optimizer(opt_config, schedule)
  model = resolve_model(spec["model"], num_classes=spec["num_classes"], **spec["model_kwargs"])
  task = tasks.get_task(spec["task"])
  augment = None
  if spec["augment"]:
    from cnnjax.data import augment as augment_lib
    augment = augment_lib.make_augment(spec["augment"])

  replicated = mesh_lib.replicated(mesh)
  init_rng, step_rng = jax.random.split(jax.random.key(spec["seed"]))
  init_fn = functools.partial(create_train_state, model, tx, input_shape=(1, *input_shape))
  state = jax.jit(init_fn, out_shardings=replicated)(init_rng)
  step_rng = mesh_lib.replicate_key(step_rng, mesh)

  host_batch = synthetic_batch(global_batch, input_shape, spec["num_classes"], spec["seed"] + 1)
  rows = global_batch // jax.process_count()
  local = {k: v[jax.process_index() * rows:(jax.process_index() + 1) * rows] for k, v in host_batch.items()}
  batch = mesh_lib.shard_batch(local, mesh)

  step_fn = functools.partial(steps.train_step, task=task, l2_weight_decay=optim.l2_coefficient(opt_config),
                              schedule=schedule, augment=augment)
  train_fn = data_parallel.compile_train_step(step_fn, mesh, spec["batch_norm_stats"])
  start = time.perf_counter()
  compiled = train_fn.lower(state, batch, step_rng).compile()
  compile_seconds = time.perf_counter() - start
  process.release_freed_memory()  # the compiler's freed heap would otherwise stay in the peak RSS
  return Point(spec, model, mesh, compiled, state, batch, step_rng, global_batch, input_shape, compile_seconds)


def run_steps(point: Point, count: int, record_losses: bool = False) -> tuple[list[float], list[float]]:
  """Advances `point` by `count` steps, each waited for; returns their wall times (s) and losses (if recorded)."""
  seconds, losses = [], []
  for _ in range(count):
    start = time.perf_counter()
    point.state, point.metrics = point.compiled(point.state, point.batch, point.step_rng)
    jax.block_until_ready((point.state, point.metrics))
    seconds.append(time.perf_counter() - start)
    if record_losses:
      losses.append(float(jax.device_get(point.metrics["loss"])))
  return seconds, losses


def run_point(spec: dict) -> dict:
  """Builds the model and state, compiles the real train step and runs it; returns timings (and losses)."""
  point = build_point(spec)
  spec, global_batch, input_shape = point.spec, point.global_batch, point.input_shape
  all_devices = jax.devices()
  record = spec["record_losses"]
  warmup_seconds, warmup_losses = run_steps(point, spec["warmup_steps"], record)
  step_seconds, step_losses = run_steps(point, spec["steps"], record)
  losses = warmup_losses + step_losses
  metrics, state = point.metrics, point.state

  peak, peak_kind = peak_memory_bytes(point.mesh.devices.flat)
  result = {
      "model": spec["model"], "devices": spec["devices"], "processes": jax.process_count(),
      "per_device_batch": spec["per_device_batch"], "global_batch": global_batch,
      "input_shape": list(input_shape), "batch_norm_stats": spec["batch_norm_stats"],
      "compile_seconds": point.compile_seconds, "step_seconds": step_seconds,
      "step_seconds_median": float(np.median(step_seconds)) if step_seconds else None,
      "images_per_second": global_batch / float(np.median(step_seconds)) if step_seconds else None,
      "images_per_second_mean": global_batch * len(step_seconds) / sum(step_seconds) if step_seconds else None,
      "peak_memory_bytes": peak, "peak_memory_kind": peak_kind,
      "final_loss": float(jax.device_get(metrics["loss"])),
      "params": int(sum(np.size(p) for p in jax.tree.leaves(state.params))),
      "backend": jax.default_backend(), "device_kind": all_devices[0].device_kind,
      "host_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
      "jax_version": jax.__version__,
      "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,  # others sharing the host
      "runtime_env": {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES", "LD_PRELOAD")},
      "onednn_convolutions": onednn_conv.onednn_status(),
  }
  if record:
    result["losses"] = losses
  return result


def main(argv: list[str]) -> int:
  if len(argv) < 2:
    print(__doc__, file=sys.stderr)
    return 2
  with open(argv[1]) as f:
    spec = json.load(f)
  distributed = spec.get("distributed")
  if distributed:
    jax.distributed.initialize(distributed["coordinator_address"], distributed["num_processes"], int(argv[2]),
                               initialization_timeout=int(distributed.get("timeout_seconds", 60)))
  result = run_point(spec)
  if spec.get("output") and jax.process_index() == 0:
    with open(spec["output"], "w") as f:
      json.dump(result, f, indent=2)
  elif not spec.get("output"):
    print(json.dumps(result))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
