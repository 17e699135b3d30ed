"""cnnjax's training step on several simulated CPU devices with the fast paths on and off, timed side by side.

    PYTHONPATH=. python benchmarks/multidev_step.py [--model cifar_resnet20] [--devices 2] [--steps 10]
        [--rounds 3] [--out benchmarks/results/multidev_step.json]

Why: the oneDNN convolutions run on several devices through their sharding rule
(cnnjax.kernels.batch_sharded); this measures what that buys where XLA_FLAGS
=--xla_force_host_platform_device_count=N splits one CPU into N devices (as `cnnjax scale` and the
device-count tests do). Three workers (benchmarks/step_workers.py: the runner's real train step on one
fixed batch, the `cnnjax` command's XLA flags and allocator) run the same global batch: fast paths on
N devices, off on N devices, and on 1 device for reference; the parent alternates "run --steps steps"
requests between them for --rounds rounds (the order rotates), so load from elsewhere falls on all.
Prints a Markdown table and writes JSON. Not part of the test suite.
"""

import argparse
import os
import statistics
import sys
import time

import machine
from cpu_step import REPO, Worker, worker_env
from step_workers import CASES


def variants(devices: int) -> dict[str, dict]:
  """Name -> (devices, fast_paths) of the workers compared."""
  return {f"fast paths, {devices} devices": {"devices": devices, "fast_paths": "auto"},
          f"plain (fast_paths=off), {devices} devices": {"devices": devices, "fast_paths": "off"},
          "fast paths, 1 device": {"devices": 1, "fast_paths": "auto"}}


def device_env(name: str, devices: int) -> dict[str, str]:
  """The cnnjax command's worker environment with `devices` simulated CPU devices."""
  env = worker_env("jax", multi_output_fusion=CASES[name].get("multi_output_fusion", False))
  flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
  env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={devices}"])
  return env


def markdown(results: dict) -> str:
  cpu = results["machine"]
  lines = [f"{results['model']}, global batch {results['batch']}; CPU: {cpu['model']}, {cpu['cores']} cores "
           f"(load average {results['load_average_before'][0]:.1f} before, {results['load_average_after'][0]:.1f} "
           "after: the CPU was shared).", "",
           "| variant | oneDNN convolutions | ms/step (median) | rounds' medians | images/s | compile s |",
           "|---|---|---:|---|---:|---:|"]
  for name, row in results["variants"].items():
    rounds = ", ".join(f"{m:.0f}" for m in row["round_medians_ms"])
    lines.append(f"| {name} | {row['fast_paths']['onednn_convolutions']} | {row['median_ms']:.1f} | {rounds} | "
                 f"{row['images_per_second']:.0f} | {row['compile_seconds']:.1f} |")
  lines.append("")
  lines.append(f"plain / fast on {results['devices']} devices: {results['plain_over_fast']:.2f}")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default="cifar_resnet20", choices=sorted(CASES))
  parser.add_argument("--devices", type=int, default=2, help="simulated CPU devices of the compared workers")
  parser.add_argument("--steps", type=int, default=10, help="timed steps per worker per round")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first (compiling) one")
  parser.add_argument("--timeout", type=float, default=600)
  parser.add_argument("--out", default="benchmarks/results/multidev_step.json")
  args = parser.parse_args(argv)

  cpu = machine.cpu_description()
  started, load_before = time.time(), os.getloadavg()
  workers = {}
  for name, variant in variants(args.devices).items():
    request = {"name": args.model, "warmup": args.warmup, **variant}
    workers[name] = Worker("jax", request, device_env(args.model, variant["devices"]), args.timeout)
    print(f"{name}: ready ({workers[name].ready['fast_paths']['onednn_convolutions']})", flush=True)
  seconds = {name: [] for name in workers}
  round_medians = {name: [] for name in workers}
  for round_index in range(args.rounds):
    names = list(workers)
    for name in names[round_index % len(names):] + names[:round_index % len(names)]:
      times = workers[name].run(args.steps)
      seconds[name] += times
      round_medians[name].append(1000 * statistics.median(times))
  batch = CASES[args.model]["batch"]
  rows = {}
  for name, worker in workers.items():
    median = statistics.median(seconds[name])
    rows[name] = {**variants(args.devices)[name], "median_ms": 1000 * median, "images_per_second": batch / median,
                  "round_medians_ms": round_medians[name], "step_ms": [1000 * s for s in seconds[name]],
                  "peak_rss_mib": worker.close(), "compile_seconds": worker.ready["compile_seconds"],
                  "fast_paths": worker.ready["fast_paths"], "XLA_FLAGS": worker.ready["XLA_FLAGS"]}
  fast, plain = (rows[name]["median_ms"] for name in list(rows)[:2])
  results = {"command": "PYTHONPATH=. python benchmarks/multidev_step.py " + " ".join(
                 sys.argv[1:] if argv is None else argv),
             "model": args.model, "batch": batch, "devices": args.devices, "steps": args.steps, "rounds": args.rounds,
             "machine": cpu, "versions": machine.versions(), "git_commit": machine.git_commit(),
             "load_average_before": load_before, "load_average_after": os.getloadavg(),
             "wall_seconds": time.time() - started, "variants": rows, "plain_over_fast": plain / fast}
  results["markdown"] = markdown(results)
  machine.save_results(results, REPO / args.out, REPO)
  return 0


if __name__ == "__main__":
  sys.exit(main())
