"""One point of a scaling study: the runner's training step on synthetic data over a device mesh, timed.

The measurement behind `cnnjax scale` (one point per fresh process, so the simulated CPU device
count can change), and the harness of the device-count invariance tests. The point trains a real
config (cnnjax.train.config.default_config() with overrides, config.dataset.name = "synthetic"),
builds its step only through cnnjax.train.setup.build_training and calls the step hooks of
cnnjax.train.hooks.for_this_process(), so what it times is what `cnnjax train` runs. It imports
no tfds and no TensorFlow: its peak memory is compared with PyTorch's.

    python -m cnnjax.scaling.point SPEC.json [PROCESS_ID]

SPEC.json: {"config": the config as a dict, "settings": the fields of `Settings`} (`write_spec`);
process 0 writes the result (JSON) to settings.output, or prints it when there is none.
"""

import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from cnnjax.data import synthetic
from cnnjax.parallel import mesh as mesh_lib
from cnnjax.train import config as config_lib, hooks as hooks_lib, setup


@dataclasses.dataclass(frozen=True)
class Settings:
  """What a point runs besides the training config."""

  devices: int = 1                  # the first `devices` of jax.devices(); all of them in a multi-process run
  steps: int = 10                   # timed steps, after compilation and `warmup_steps`
  warmup_steps: int = 2
  record_losses: bool = False       # also return every step's loss (tests)
  distributed: dict | None = None   # {"coordinator_address": "host:port", "num_processes": n, "timeout_seconds": s}
  output: str | None = None         # where process 0 writes the result JSON; None: printed


def synthetic_config(input_shape, **overrides) -> ml_collections.ConfigDict:
  """default_config() on synthetic images of `input_shape` [H, W, C] (H == W), then `overrides`.

  An override of a sub-config is a dict merged into it: synthetic_config((8, 8, 3), batch_size=32,
  optimizer={"learning_rate": 0.1}). Unknown keys are refused later by check_config.
  """
  config = config_lib.default_config()
  config.dataset.update(synthetic.dataset_fields(input_shape))
  config.update(overrides)
  return config


def write_spec(path, config, settings: Settings) -> None:
  """The file a point's process reads: the config as a dict and the settings, as JSON."""
  Path(path).write_text(json.dumps({"config": config.to_dict(), "settings": dataclasses.asdict(settings)},
                                   indent=2) + "\n")


def read_spec(path) -> tuple[ml_collections.ConfigDict, Settings]:
  """(default_config() updated with the file's config, its Settings): what `write_spec` wrote."""
  spec = json.loads(Path(path).read_text())
  config = config_lib.default_config()
  config.update(spec["config"])
  return config, Settings(**spec.get("settings", {}))


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

  config: ml_collections.ConfigDict
  settings: Settings
  training: setup.Training
  mesh: Any
  compiled: Any
  state: Any
  batch: dict
  hooks: hooks_lib.StepHooks
  input_shape: tuple[int, ...]
  compile_seconds: float
  metrics: dict | None = None

  @property
  def global_batch(self) -> int:
    return self.config.batch_size


def build_point(config, settings: Settings, model=None) -> Point:
  """Builds `config`'s training on `settings.devices` devices and compiles its step on synthetic batch 0.

  config.batch_size is the global batch; config.dataset must be "synthetic" (synthetic_config). The
  schedule spans the point's steps as one epoch (warmup_steps + steps). `model`: a linen module to
  train instead of the registry's config.model (setup.build_training); the config is checked
  (check_config) only when the registry builds the model.
  """
  if config.dataset.name != synthetic.NAME:
    raise ValueError(f"config.dataset.name={config.dataset.name!r}: a scaling point times the step alone on "
                     f"synthetic data; set config.dataset.name='{synthetic.NAME}' (synthetic_config does)")
  if model is None:
    config_lib.check_config(config)
  all_devices = jax.devices()
  if settings.devices > len(all_devices):
    raise ValueError(f"{settings.devices} devices asked for but only {len(all_devices)} are present "
                     f"({all_devices[0].platform}); on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N")
  if jax.process_count() > 1 and settings.devices != len(all_devices):
    raise ValueError("a multi-process run uses every device; set devices to jax.device_count()")
  mesh = mesh_lib.make_data_mesh(all_devices[:settings.devices])
  mesh_lib.check_batch_size(config.batch_size, mesh)
  input_shape = synthetic.input_shape(config.dataset)
  total_steps = settings.warmup_steps + settings.steps
  training = setup.build_training(config, mesh, input_shape, steps_per_epoch=max(1, total_steps),
                                  total_steps=total_steps, model=model)
  state = training.init_state()

  global_batch = synthetic.train_batch(config.dataset, config.batch_size, config.seed, 0)
  rows = config.batch_size // jax.process_count()
  batch = mesh_lib.shard_batch(synthetic.process_rows(global_batch, rows, jax.process_index()), mesh)

  hooks = hooks_lib.for_this_process()
  start = time.perf_counter()
  compiled = training.train_step.lower(state, batch, training.step_rng).compile()
  compile_seconds = time.perf_counter() - start
  hooks.after_compile()  # on CPU the compiler's freed heap would otherwise stay in the peak RSS
  return Point(config, settings, training, mesh, compiled, state, batch, hooks, input_shape, compile_seconds)


def run_steps(point: Point, count: int, record_losses: bool = False) -> tuple[list[float], list[float]]:
  """Advances `point` by `count` steps, each waited for; returns their wall times (s) and losses (if recorded)."""
  seconds, losses = [], []
  for _ in range(count):
    point.hooks.before_step(point.state)
    start = time.perf_counter()
    point.state, point.metrics = point.compiled(point.state, point.batch, point.training.step_rng)
    jax.block_until_ready((point.state, point.metrics))
    seconds.append(time.perf_counter() - start)
    if record_losses:
      losses.append(float(jax.device_get(point.metrics["loss"])))
  return seconds, losses


def run_point(config, settings: Settings, model=None) -> dict:
  """Builds and compiles the point, runs its warm-up and timed steps; returns timings, memory (and losses)."""
  point = build_point(config, settings, model)
  record = settings.record_losses
  _, warmup_losses = run_steps(point, settings.warmup_steps, record)
  step_seconds, step_losses = run_steps(point, settings.steps, record)
  metrics, state, global_batch = point.metrics, point.state, point.global_batch

  peak, peak_kind = peak_memory_bytes(point.mesh.devices.flat)
  median = float(np.median(step_seconds)) if step_seconds else None
  result = {
      "model": config.model, "devices": settings.devices, "processes": jax.process_count(),
      "per_device_batch": global_batch // settings.devices, "global_batch": global_batch,
      "input_shape": list(point.input_shape), "batch_norm_stats": config.batch_norm_stats,
      "compile_seconds": point.compile_seconds, "step_seconds": step_seconds,
      "step_seconds_median": median,
      "images_per_second": global_batch / median if step_seconds else None,
      "images_per_second_mean": global_batch * len(step_seconds) / sum(step_seconds) if step_seconds else None,
      "peak_memory_bytes": peak, "peak_memory_kind": peak_kind,
      "final_loss": float(jax.device_get(metrics["loss"])) if metrics is not None else None,
      "params": int(sum(np.size(p) for p in jax.tree.leaves(state.params))),
      "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
      "host_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
      "jax_version": jax.__version__,
      "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,  # others sharing the host
      "runtime_env": {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "GLIBC_TUNABLES", "LD_PRELOAD")},
      "fast_paths": point.training.fast_paths,
  }
  if record:
    result["losses"] = warmup_losses + step_losses
  return result


def start_distributed(settings: Settings, process_id: int | None) -> None:
  """Joins the multi-process run of settings.distributed as process `process_id` (nothing when there is none)."""
  if settings.distributed:
    if process_id is None:
      raise ValueError("settings.distributed names a multi-process run: pass this process's id after SPEC.json")
    jax.distributed.initialize(settings.distributed["coordinator_address"], settings.distributed["num_processes"],
                               process_id,
                               initialization_timeout=int(settings.distributed.get("timeout_seconds", 60)))


def main(argv: list[str]) -> int:
  if len(argv) < 2:
    print(__doc__, file=sys.stderr)
    return 2
  config, settings = read_spec(argv[1])
  start_distributed(settings, int(argv[2]) if len(argv) > 2 else None)
  result = run_point(config, settings)
  if settings.output and jax.process_index() == 0:
    Path(settings.output).write_text(json.dumps(result, indent=2))
  elif not settings.output:
    print(json.dumps(result))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
