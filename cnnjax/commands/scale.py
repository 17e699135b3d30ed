"""`cnnjax scale`: throughput of the real training step against the number of devices.

    cnnjax scale --config configs/fashion_mnist_lenet5.py --devices 1,2,4,8 --per_device_batch 32,64 \\
        --steps 20 --out results/scaling/lenet5
    cnnjax scale --model resnet50 --input_shape 224,224,3 --num_classes 1000 --devices 1,8 ...

Each point runs in a fresh process (cnnjax.scaling.point): the config's training (the file's, or
cnnjax.train.config.default_config() without --config) with config.dataset.name = "synthetic", so on
CPU the simulated device count can change between points. Writes scaling.json, scaling.md and
scaling.png. Without --config neither tfds nor TensorFlow is imported.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cnnjax.commands.arguments import ArgumentParser, check_output_folder, integer, number, one_of
from cnnjax.errors import InputError, RunFailure, unknown_name

STORED_IMAGE_SIZES = {"mnist": 28, "fashion_mnist": 28, "kmnist": 28, "emnist": 28, "cifar10": 32,
                      "cifar100": 32, "svhn_cropped": 32}
BATCH_NORM_STATS = ("global", "per_device")  # cnnjax.parallel.data_parallel's, without importing it for --help
EXAMPLES = (
    "cnnjax scale --config configs/fashion_mnist_lenet5.py --devices 1,2,4,8 --per_device_batch 32,64 --steps 20 "
    "--out runs/scaling/lenet5",
    "cnnjax scale --model resnet50 --input_shape 224,224,3 --num_classes 1000 --devices 1,8 --per_device_batch 64 "
    "--dtype bfloat16 --out runs/scaling/resnet50",
)
RENAMED = {"--per-device-batch": "--per_device_batch", "--global-batch": "--global_batch",
           "--warmup-steps": "--warmup_steps", "--input-shape": "--input_shape", "--num-classes": "--num_classes",
           "--batch-norm-stats": "--batch_norm_stats"}


def _ints(minimum: int, count: int | None = None):
  """An argparse type: a comma-separated list of integers >= minimum (exactly `count` of them if given)."""
  def parse(text: str) -> list[int]:
    try:
      values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 1,2,4,8") from None
    if any(v < minimum for v in values):
      raise argparse.ArgumentTypeError(f"{text!r}: every value must be >= {minimum}")
    if count is not None and len(values) != count:
      raise argparse.ArgumentTypeError(f"{text!r}: give {count} values")
    return values
  return parse


def _parser() -> ArgumentParser:
  p = ArgumentParser(prog="cnnjax scale", description=__doc__.split("\n")[0], examples=EXAMPLES, renamed=RENAMED)
  p.add_argument("--config", help="config file (configs/*.py): model, optimizer, batch-norm policy, input shape; "
                 "--config.KEY=VALUE overrides work as in `cnnjax train`")
  p.add_argument("--model", help="registered model name (overrides the config's)")
  p.add_argument("--devices", type=_ints(1), default=[1, 2, 4, 8], help="device counts, e.g. 1,2,4,8: each from 1 "
                 "to the devices present (on CPU, any count is simulated)")
  p.add_argument("--per_device_batch", type=_ints(1), default=[32, 64], help="weak scaling: batch per device")
  p.add_argument("--global_batch", type=_ints(0), default=None,
                 help="strong scaling: global batches split over the devices (default: the largest per-device "
                      "batch times the fewest devices; 0 turns strong scaling off)")
  p.add_argument("--steps", type=integer(1), default=20, help="timed steps per point (after compilation)")
  p.add_argument("--warmup_steps", type=integer(0), default=2, help="untimed steps after compilation")
  p.add_argument("--out", default="runs/scaling", help="output folder")
  p.add_argument("--input_shape", type=_ints(1, count=3), help="H,W,C of the synthetic images, H == W (default: "
                 "from the config)")
  p.add_argument("--num_classes", type=integer(1), help="number of classes (default: the config's, else 10)")
  p.add_argument("--batch_norm_stats", type=one_of(BATCH_NORM_STATS, "batch_norm_stats"),
                 metavar="{" + ",".join(BATCH_NORM_STATS) + "}", help="overrides config.batch_norm_stats")
  p.add_argument("--dtype", help="model compute dtype, e.g. bfloat16 (passed as model_kwargs dtype)")
  p.add_argument("--timeout", type=number(0, inclusive=False), default=600, help="seconds allowed per point")
  return p


def _input_shape_from_config(config) -> list[int]:
  ds = config.dataset
  channels = len(ds.mean)
  size = ds.get("image_size") or STORED_IMAGE_SIZES.get(ds.name)
  if size:
    return [size, size, channels]
  import tensorflow_datasets as tfds  # only for datasets whose stored size is not listed above
  shape = tfds.builder(ds.name, data_dir=ds.get("data_dir")).info.features[ds.image_key].shape
  if None in shape:
    raise InputError(f"{ds.name} images have no fixed size; set config.dataset.image_size or pass --input_shape")
  return list(shape)


def _config(args, extra: list[str]):
  """The study's config: the file's (with its overrides) or default_config(), with the flags, on synthetic images.

  The points time one epoch of warmup + timed steps, so the schedule's warmup (in epochs) is set to 0.
  """
  if args.config:
    from cnnjax.commands.config_args import parse_config
    config = parse_config(["cnnjax scale", f"--config={args.config}", *extra]).config
  elif extra:
    raise InputError(f"unrecognized arguments: {' '.join(extra)}; config overrides need --config")
  if args.model:
    from cnnjax.models import MODELS
    if args.model not in MODELS:
      raise unknown_name("--model", args.model, MODELS)
  if not args.config and not args.input_shape:
    raise InputError("give --config or --input_shape H,W,C for the synthetic images")
  if args.input_shape and args.input_shape[0] != args.input_shape[1]:
    raise InputError(f"--input_shape {','.join(map(str, args.input_shape))}: synthetic images are square "
                     "(config.dataset.image_size); give H == W")
  from cnnjax.train.config import check_config, default_config
  if args.config:
    check_config(config)  # before _input_shape_from_config reads the dataset
    shape = args.input_shape or _input_shape_from_config(config)
    config.unlock()
  else:
    config, shape = default_config(), args.input_shape
  from cnnjax.data import synthetic
  config.dataset.update(synthetic.dataset_fields(shape))
  config.schedule.warmup_epochs = 0.0
  if args.model:
    config.model = args.model
  if args.num_classes:
    config.dataset.num_classes = args.num_classes
  if args.batch_norm_stats:
    config.batch_norm_stats = args.batch_norm_stats
  if args.dtype:
    import jax.numpy as jnp  # starts no backend
    try:
      jnp.dtype(args.dtype)
    except TypeError:
      raise InputError(f"--dtype {args.dtype} is not a dtype; use e.g. float32 or bfloat16") from None
    config.model_kwargs.dtype = args.dtype
  check_config(config)
  return config


def _child_env(devices: int, backend: str) -> dict[str, str]:
  env = dict(os.environ)
  root = str(Path(__file__).resolve().parents[2])
  env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
  if backend == "cpu":
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={devices}"])
  return env


def probe_backend(timeout: float = 300) -> dict:
  """Backend, device count and kind, asked of a fresh process so this one never holds accelerator memory."""
  code = ("import json, os, jax; d = jax.devices(); print(json.dumps({'backend': jax.default_backend(), "
          "'device_count': len(d), 'device_kind': d[0].device_kind, 'jax_version': jax.__version__, "
          "'host_cpus': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}))")
  env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
  try:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    raise RunFailure(f"JAX did not report its devices within {timeout:.0f} s; is the accelerator busy?") from None
  if out.returncode:
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    raise RunFailure(f"could not start JAX to find the devices: {lines[-1] if lines else out.returncode}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def run_point(config, settings, per_device_batch: int, backend: str, folder: Path, timeout: float) -> dict:
  """Runs one (settings.devices, per-device batch) point of `config` in a fresh process (cnnjax.scaling.point);
  a failure is returned as {"error": ...}."""
  from cnnjax.scaling import point as point_lib
  devices = settings.devices
  name = f"d{devices}_b{per_device_batch}"
  config = config.copy_and_resolve_references()
  config.batch_size = devices * per_device_batch
  settings = dataclasses.replace(settings, output=str(folder / f"{name}.json"))
  point_lib.write_spec(folder / f"{name}.spec.json", config, settings)
  point = {"devices": devices, "per_device_batch": per_device_batch}
  try:
    out = subprocess.run([sys.executable, "-m", "cnnjax.scaling.point", str(folder / f"{name}.spec.json")],
                         env=_child_env(devices, backend), capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return {**point, "error": f"timed out after {timeout:.0f} s"}
  if out.returncode:
    (folder / f"{name}.stderr.txt").write_text(out.stderr)
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    return {**point, "error": lines[-1] if lines else f"exit code {out.returncode}"}
  return json.loads((folder / f"{name}.json").read_text())


def _versions() -> dict:
  import importlib.metadata
  versions = {}
  for package in ("jax", "jaxlib", "flax", "optax", "numpy"):
    try:
      versions[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      versions[package] = None
  return versions


def run(argv: list[str]) -> int:
  parser = _parser()
  args, extra = parser.parse_known_args(argv[1:])
  config = _config(args, extra)
  if not args.devices or not args.per_device_batch:
    raise InputError("--devices and --per_device_batch need at least one value each, e.g. --devices 1,2")
  check_output_folder(args.out, "--out")
  global_batches = args.global_batch if args.global_batch is not None else [
      max(args.per_device_batch) * min(args.devices)]
  global_batches = [g for g in global_batches if g > 0]

  probe = probe_backend()
  devices = args.devices
  if probe["backend"] != "cpu" and max(devices) > probe["device_count"]:
    raise InputError(f"--devices {','.join(map(str, devices))}: only {probe['device_count']} {probe['device_kind']} "
                     f"device(s) are present; use counts from 1 to {probe['device_count']}")

  out = Path(args.out)
  (out / "points").mkdir(parents=True, exist_ok=True)
  points = []
  from cnnjax.data import synthetic
  from cnnjax.scaling import point as point_lib, report
  settings = point_lib.Settings(steps=args.steps, warmup_steps=args.warmup_steps)
  for d, b in report.plan_points(devices, args.per_device_batch, global_batches):
    start = time.perf_counter()
    point = run_point(config, dataclasses.replace(settings, devices=d), b, probe["backend"], out / "points",
                      args.timeout)
    points.append(point)
    status = point.get("error") or (f"{1e3 * point['step_seconds_median']:.1f} ms/step, "
                                    f"{point['images_per_second']:.0f} images/s, compile {point['compile_seconds']:.1f} s")
    print(f"devices {d}, per-device batch {b}: {status} ({time.perf_counter() - start:.0f} s)", flush=True)
  report.add_efficiencies(points, args.per_device_batch, global_batches)

  from cnnjax.train.environment import git_commit
  study = {"command": " ".join(["cnnjax", "scale", *argv[1:]]), "model": config.model,
           "input_shape": list(synthetic.input_shape(config.dataset)), "batch_norm_stats": config.batch_norm_stats,
           "steps": args.steps, "warmup_steps": args.warmup_steps, "per_device_batches": args.per_device_batch,
           "global_batches": global_batches, **probe, "simulated_devices": probe["backend"] == "cpu",
           "note": report.CPU_NOTE.format(cpus=probe["host_cpus"]) if probe["backend"] == "cpu" else None,
           "config": config.to_dict(), "versions": _versions(), "git_commit": git_commit(), "points": points}
  study["config"].pop("batch_size")  # each point's: devices x per-device batch
  report.write_report(study, out)
  print(f"wrote {out}/scaling.json, scaling.md" + (", scaling.png" if study["plot"] else " (no matplotlib: no plot)"))
  return 1 if any("error" in p for p in points) else 0
