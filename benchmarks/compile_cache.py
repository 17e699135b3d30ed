"""Compile seconds of the runner's train step, cold (empty persistent cache) against warm (the cache filled by the
cold process), each in a fresh process, for ResNet-50 and DenseNet-121 (batch 8, 64x64x3, 1000 classes).

    PYTHONPATH=. .venv/bin/python benchmarks/compile_cache.py [--models resnet50,densenet121] [--repeats 1]
        [--out benchmarks/results/compile_cache.json]

Why: the `cnnjax` command turns JAX's persistent compilation cache on (cnnjax.fast.compilation_cache), so a
repeated or resumed run should skip compiling; this measures by how much. Each model gets a fresh cache folder;
every process applies the `cnnjax` command's process settings (cnnjax.fast.process) and turns the cache on with
compilation_cache.configure, builds the step through cnnjax.train.setup.build_training on synthetic data and
compiles it ahead of time (cnnjax.train.compile_timing). Lowering (tracing) is timed apart: the cache skips only
the compile. The warm process's first step must equal the cold one's bit for bit (loss and parameters' sum).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine  # benchmarks/machine.py (no JAX)

REPO = Path(__file__).resolve().parents[1]
MODELS = ("resnet50", "densenet121")
PREFIX = "compile_cache: "


def child(model: str, cache_dir: str, batch: int, size: int) -> None:
  """One process: the model's train step lowered and compiled with the cache at `cache_dir`; prints a JSON line."""
  from cnnjax.fast import process
  process.prepare_process()  # the cnnjax command's XLA flags and allocator (may re-execute this process)
  from cnnjax.fast import compilation_cache
  compilation_cache.configure(cache_dir)
  import jax
  import numpy as np
  from cnnjax.data import synthetic
  from cnnjax.parallel import mesh as mesh_lib
  from cnnjax.scaling import point
  from cnnjax.train import compile_timing, setup

  config = point.synthetic_config((size, size, 3), model=model, batch_size=batch)
  config.dataset.num_classes = 1000
  mesh = mesh_lib.make_data_mesh()
  training = setup.build_training(config, mesh, (size, size, 3), steps_per_epoch=10, total_steps=10)
  state = training.init_state()
  data = mesh_lib.shard_batch(synthetic.train_batch(config.dataset, batch, config.seed, 0), mesh)
  step = compile_timing.CompiledOnFirstCall(training.train_step)
  with compile_timing.CacheEvents() as events:
    state, metrics = step(state, data, training.step_rng)
    loss = float(jax.device_get(metrics["loss"]))
  params_sum = float(sum(np.sum(np.asarray(p, np.float64)) for p in jax.tree.leaves(jax.device_get(state.params))))
  print(PREFIX + json.dumps({
      "lower_seconds": step.lower_seconds, "compile_seconds": step.compile_seconds, "from_cache": step.from_cache,
      "cache_hits": events.hits, "cache_misses": events.misses, "loss": loss, "params_sum": params_sum,
      "fast_paths": training.fast_paths, "xla_flags": os.environ.get("XLA_FLAGS", "")}), flush=True)


def run_child(model: str, cache_dir: Path, args) -> dict:
  """Runs `child` in a fresh Python; returns its JSON line plus the process's wall seconds."""
  start = time.perf_counter()
  out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", model, str(cache_dir),
                        "--batch", str(args.batch), "--size", str(args.size)], capture_output=True, text=True,
                       timeout=args.timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
  if out.returncode:
    raise RuntimeError(f"{model}: the child process failed:\n{out.stderr[-3000:]}")
  line = next(l for l in out.stdout.splitlines() if l.startswith(PREFIX))
  return {**json.loads(line[len(PREFIX):]), "process_seconds": time.perf_counter() - start}


def measure(model: str, args) -> dict:
  """Cold then warm, `args.repeats` times, each pair on a fresh cache folder."""
  pairs = []
  for _ in range(args.repeats):
    with tempfile.TemporaryDirectory(prefix="cnnjax_compile_cache_") as folder:
      cold = run_child(model, Path(folder), args)
      warm = run_child(model, Path(folder), args)
      entries = sum(1 for _ in Path(folder).iterdir())
      cache_bytes = sum(p.stat().st_size for p in Path(folder).iterdir())
    if warm["loss"] != cold["loss"] or warm["params_sum"] != cold["params_sum"]:
      raise RuntimeError(f"{model}: the cached step computed differently: {cold} vs {warm}")
    pairs.append({"cold": cold, "warm": warm, "cache_entries": entries, "cache_bytes": cache_bytes})
    print(f"{model}: compile cold {cold['compile_seconds']:.2f} s, warm {warm['compile_seconds']:.2f} s "
          f"(lowering {cold['lower_seconds']:.2f} / {warm['lower_seconds']:.2f} s)", flush=True)
  return {"model": model, "batch": args.batch, "input": [args.size, args.size, 3], "pairs": pairs}


def _median(values: list[float]) -> float:
  ordered = sorted(values)
  middle = len(ordered) // 2
  return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def markdown(results: dict) -> str:
  """The table: per model, median compile and lowering seconds cold and warm, the process's wall time, cache size."""
  lines = ["| model | batch, input | compile s cold | compile s warm | cold / warm | lowering s cold / warm | "
           "process s cold / warm | cache entries (MiB) | first step equal |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|"]
  for row in results["models"]:
    get = lambda side, key: _median([p[side][key] for p in row["pairs"]])  # noqa: E731
    cold, warm = get("cold", "compile_seconds"), get("warm", "compile_seconds")
    lines.append(
        f"| {row['model']} | {row['batch']}, {'x'.join(map(str, row['input']))} | {cold:.2f} | {warm:.2f} | "
        f"{cold / warm:.0f}x | {get('cold', 'lower_seconds'):.2f} / {get('warm', 'lower_seconds'):.2f} | "
        f"{get('cold', 'process_seconds'):.1f} / {get('warm', 'process_seconds'):.1f} | "
        f"{row['pairs'][0]['cache_entries']} ({row['pairs'][0]['cache_bytes'] / 2 ** 20:.1f}) | yes (bitwise) |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--models", default=",".join(MODELS), help="comma-separated registered model names")
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--size", type=int, default=64, help="side of the square synthetic images")
  parser.add_argument("--repeats", type=int, default=1, help="cold + warm pairs per model, each on a fresh cache")
  parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per process")
  parser.add_argument("--out", default="benchmarks/results/compile_cache.json")
  parser.add_argument("--note", default="", help="recorded with the results, e.g. what else shared the CPU")
  parser.add_argument("--child", nargs=2, metavar=("MODEL", "CACHE_DIR"), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    child(*args.child, args.batch, args.size)
    return 0
  started, load_before = time.time(), os.getloadavg()
  rows = [measure(model, args) for model in args.models.split(",")]
  results = {
      "command": (f"PYTHONPATH=. python benchmarks/compile_cache.py --models {args.models} --batch {args.batch} "
                  f"--size {args.size} --repeats {args.repeats}"),  # the note is recorded apart
      "machine": machine.cpu_description(), "versions": machine.versions(), "git_commit": machine.git_commit(),
      "note": args.note, "load_average_before": load_before, "models": rows, "load_average_after": os.getloadavg(),
      "wall_seconds": time.time() - started,
  }
  results["markdown"] = markdown(results)
  machine.save_results(results, REPO / args.out, REPO)
  return 0


if __name__ == "__main__":
  sys.exit(main())
