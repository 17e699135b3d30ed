"""cnnjax's training step against an equivalent PyTorch eager step on this CPU, timed side by side.

    PYTHONPATH=. python benchmarks/cpu_step.py [--models lenet5,cifar_resnet20,vgg11_bn_half]
        [--steps 20] [--rounds 3] [--processes 3] [--out benchmarks/results/cpu_step.json]

For each model, --processes times, one worker per framework (benchmarks/step_workers.py) builds and
warms up; then the parent alternates "run --steps steps" requests between them for --rounds rounds
(the framework that goes first alternates), so load from elsewhere falls on both, and the steps of
all processes are pooled. cnnjax runs the runner's
real train_step (cnnjax.scaling.point) with the `cnnjax` command's runtime settings
(cnnjax.fast.process: XLA CPU flags, glibc malloc tunables); PyTorch runs benchmarks/torch_reference.py
eagerly on all cores in NCHW or channels_last, whichever its probe found faster. Both train on one
fixed random batch. Training FLOPs are taken as 3 x 2 x the forward multiply-adds counted by
cnnjax.analysis.count_multiply_adds (backward ~ 2x forward). The input pipeline of the
fashion_mnist_resnet20 config is timed alone and compared with the rate its step consumes.
Prints a Markdown table and writes JSON. Not part of the test suite.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import machine
from step_workers import CASES, PREFIX

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "step_workers.py"
PIPELINE_CONFIG = "configs/fashion_mnist_resnet20.py"


class Worker:
  """A step_workers.py subprocess, spoken to one JSON line at a time."""

  def __init__(self, kind: str, case: dict, env: dict[str, str], timeout: float):
    self.kind, self.timeout, self.counters = kind, timeout, []
    self.process = subprocess.Popen([sys.executable, str(WORKER), kind, json.dumps(case)], env=env, cwd=REPO,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self.ready = self._receive()["ready"]

  def _receive(self) -> dict:
    for line in self.process.stdout:
      if line.startswith(PREFIX):
        return json.loads(line[len(PREFIX):])
    raise RuntimeError(f"{self.kind} worker exited with {self.process.wait()} before answering; see its stderr above")

  def run(self, steps: int) -> list[float]:
    """Seconds of each of `steps` steps; what the worker's counters grew by is appended to self.counters."""
    self.process.stdin.write(json.dumps({"run": steps}) + "\n")
    self.process.stdin.flush()
    answer = self._receive()
    self.counters.append(answer.get("counters"))
    return answer["seconds"]

  def close(self) -> float:
    """Ends the worker; returns its peak RSS in MiB."""
    self.process.stdin.write(json.dumps({"exit": True}) + "\n")
    self.process.stdin.flush()
    peak = self._receive()["peak_rss_mib"]
    self.process.wait(timeout=self.timeout)
    return peak


def worker_env(framework: str, torch_hugepages: bool = False, xla_flags: str | None = None,
               multi_output_fusion: bool = False) -> dict[str, str]:
  """jax: the cnnjax command's XLA flags (with multi-output fusion when the case's config would set
  config.xla_cpu_multi_output_fusion; or exactly `xla_flags`) and glibc malloc tunables; others: the
  environment as given, with the same malloc tunables when `torch_hugepages`."""
  from cnnjax.fast import process
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if framework == "jax":
    if xla_flags is None:
      process.set_xla_flags(env, multi_output_fusion)
    else:
      env["XLA_FLAGS"] = xla_flags
  if framework == "jax" or torch_hugepages:
    env = process.allocator_reexec_env(env) or env
  return env


def _summary(seconds: list[float], batch: int, flops: float, peak_gflops: float) -> dict:
  median = statistics.median(seconds)
  return {"median_ms": 1000 * median, "images_per_second": batch / median, "gflops": flops / median / 1e9,
          "percent_of_peak": 100 * flops / median / 1e9 / peak_gflops, "steps_timed": len(seconds),
          "step_ms": [1000 * s for s in seconds]}


def compare(name: str, args, cpu: dict) -> dict:
  """Interleaved rounds of the cnnjax and PyTorch steps of one case, in --processes fresh worker pairs.

  Why several processes: a step's speed differs between otherwise identical processes (thread
  placement on the cores, buffer alignment), by up to 2x for LeNet-5 here; pooling the steps of
  fresh workers measures the framework rather than one process's luck. Peak RSS is the largest.
  """
  case = CASES[name]
  request = {"name": name, "warmup": args.warmup, "probe_steps": args.probe_steps, "layout": args.torch_layout}
  env = worker_env("jax", xla_flags=args.xla_flags, multi_output_fusion=case.get("multi_output_fusion", False))
  seconds = {"cnnjax": [], "torch": []}
  peaks = {"cnnjax": 0.0, "torch": 0.0}
  pair_ratios = []
  for process_index in range(args.processes):
    workers = {"cnnjax": Worker("jax", request, env, args.timeout),
               "torch": Worker("torch", request, worker_env("torch", args.torch_hugepages), args.timeout)}
    for round_index in range(args.rounds):
      order = list(workers) if (process_index + round_index) % 2 == 0 else list(reversed(workers))
      times = {k: workers[k].run(args.steps) for k in order}
      for k, t in times.items():
        seconds[k] += t
      pair_ratios.append(statistics.median(times["torch"]) / statistics.median(times["cnnjax"]))
    for k, worker in workers.items():
      peaks[k] = max(peaks[k], worker.close())
  macs = workers["cnnjax"].ready["multiply_adds"]
  flops = 6 * macs
  row = {"model": name, "cnnjax_model": case["model"], "torch_model": case["torch_model"], "batch": case["batch"],
         "input_shape": list(case["input_shape"]), "forward_multiply_adds": macs, "training_flops": flops}
  for k, w in workers.items():
    row[k] = {**_summary(seconds[k], case["batch"], flops, cpu["fp32_peak_gflops"]), "peak_rss_mib": peaks[k],
              **{key: value for key, value in w.ready.items() if key != "multiply_adds"}}
  row["torch_over_cnnjax"] = row["torch"]["median_ms"] / row["cnnjax"]["median_ms"]
  row["round_ratios"] = pair_ratios
  if row["cnnjax"]["params"] != row["torch"]["params"]:
    print(f"warning: {name}: cnnjax has {row['cnnjax']['params']:,} parameters, torch {row['torch']['params']:,}",
          file=sys.stderr)
  return row


def pipeline_vs_step(args, cpu: dict) -> dict:
  """Images/s of the fashion_mnist_resnet20 input pipeline alone, and of the step that consumes it."""
  feed = Worker("pipeline", {"config": PIPELINE_CONFIG, "warmup": 10}, worker_env("pipeline"), args.timeout)
  feed.run(50)  # drains what prefetch buffered while the worker waited: the timed batches are steady state
  batch_seconds = feed.run(args.pipeline_batches)
  feed_peak = feed.close()
  setup = feed.ready
  case = {"model": setup["model"], "model_kwargs": setup["model_kwargs"], "input_shape": setup["input_shape"],
          "batch": setup["batch"], "augment": setup["augment"], "optimizer": setup["optimizer"],
          "schedule": setup["schedule"], "warmup": args.warmup}
  step = Worker("jax", case, worker_env("jax", xla_flags=args.xla_flags,
                                       multi_output_fusion=setup.get("multi_output_fusion", False)), args.timeout)
  step_seconds = step.run(args.steps * args.rounds)
  step_peak = step.close()
  feed_rate = setup["batch"] * len(batch_seconds) / sum(batch_seconds)
  step_rate = setup["batch"] / statistics.median(step_seconds)
  return {"config": PIPELINE_CONFIG, "batch": setup["batch"], "augment_in_step": setup["augment"],
          "pipeline_batches": len(batch_seconds), "pipeline_images_per_second": feed_rate,
          "pipeline_peak_rss_mib": feed_peak, "step_median_ms": 1000 * statistics.median(step_seconds),
          "step_images_per_second": step_rate, "step_peak_rss_mib": step_peak, "ratio": feed_rate / step_rate,
          "meets_3x": feed_rate >= 3 * step_rate,
          "note": "pipeline timed alone (first epoch: read, decode, cache, shuffle, batch, normalise); "
                  "flip + crop run inside the jitted step, so the step rate includes them"}


def markdown(results: dict) -> str:
  cpu = results["machine"]
  isa = results.get("isa_limits", {}).get("label", "native ISA")
  lines = [f"CPU: {cpu['model']}, {cpu['cores']} cores, {isa}; fp32 peak {cpu['peak_derivation']}.",
           "Training FLOPs = 3 x 2 x forward multiply-adds (cnnjax.analysis.count_multiply_adds).", "",
           "| model | batch | cnnjax ms/step | PyTorch ms/step (layout) | torch / cnnjax (rounds) | cnnjax img/s | "
           "PyTorch img/s | cnnjax GFLOP/s (% peak) | PyTorch GFLOP/s (% peak) | peak RSS MiB cnnjax / torch | "
           "compile s cnnjax / first step s torch |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for r in results["models"]:
    j, t = r["cnnjax"], r["torch"]
    lines.append(f"| {r['model']} | {r['batch']} | {j['median_ms']:,.1f} | {t['median_ms']:,.1f} ({t['layout']}) | "
                 f"{r['torch_over_cnnjax']:.2f} ({min(r['round_ratios']):.2f}-{max(r['round_ratios']):.2f}) | "
                 f"{j['images_per_second']:,.0f} | {t['images_per_second']:,.0f} | "
                 f"{j['gflops']:.1f} ({j['percent_of_peak']:.0f}%) | {t['gflops']:.1f} ({t['percent_of_peak']:.0f}%) | "
                 f"{j['peak_rss_mib']:,.0f} / {t['peak_rss_mib']:,.0f} | "
                 f"{j['compile_seconds']:.1f} / {t['first_step_seconds']:.1f} |")
  p = results.get("pipeline")
  if p:
    lines += ["", f"Input pipeline ({p['config']}, batch {p['batch']}): {p['pipeline_images_per_second']:,.0f} img/s "
                  f"alone vs {p['step_images_per_second']:,.0f} img/s consumed by its step: "
                  f"{p['ratio']:.1f}x ({'meets' if p['meets_3x'] else 'BELOW'} the 3x target)."]
  return "\n".join(lines)


def add_case_arguments(parser: argparse.ArgumentParser, models, steps: int, rounds: int) -> None:
  """--models (of step_workers.CASES), --steps, --rounds, --warmup and --timeout, shared by the step benchmarks."""
  parser.add_argument("--models", default=",".join(models), help=f"comma-separated, of {', '.join(CASES)}")
  parser.add_argument("--steps", type=int, default=steps, help="timed steps per worker per round")
  parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds per worker process")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first (compiling) one")
  parser.add_argument("--timeout", type=float, default=600, help="seconds a worker may take to answer")


def chosen_models(parser: argparse.ArgumentParser, args) -> list[str]:
  """--models as a list; an unknown name is a usage error."""
  models = args.models.split(",")
  unknown = [m for m in models if m not in CASES]
  if unknown:
    parser.error(f"--models {unknown} unknown; choose from {', '.join(CASES)}")
  return models


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  add_case_arguments(parser, CASES, steps=20, rounds=3)
  parser.add_argument("--processes", type=int, default=3, help="fresh cnnjax + PyTorch worker pairs per model")
  parser.add_argument("--probe-steps", type=int, default=5, help="steps PyTorch times per layout to choose one")
  parser.add_argument("--pipeline-batches", type=int, default=300, help="0 skips the input-pipeline measurement")
  parser.add_argument("--torch-layout", choices=("auto", "nchw", "channels_last"), default="auto",
                      help="auto: PyTorch times both and keeps the faster (both then count in its peak RSS)")
  parser.add_argument("--torch-hugepages", action="store_true",
                      help="give PyTorch cnnjax's allocator settings too (glibc huge pages, the scratch cache)")
  parser.add_argument("--xla-flags", help="cnnjax's XLA_FLAGS instead of the cnnjax command's (cnnjax.fast.process); "
                      "pass as --xla-flags='...' ('' for none); for comparing flag sets, the default is what users get")
  parser.add_argument("--out", default="benchmarks/results/cpu_step.json")
  args = parser.parse_args(argv)
  models = chosen_models(parser, args)

  cpu = machine.cpu_description()
  print(cpu["peak_derivation"], flush=True)
  started = time.time()
  load_before = os.getloadavg()
  rows = []
  for name in models:
    rows.append(compare(name, args, cpu))
    print(f"{name}: cnnjax {rows[-1]['cnnjax']['median_ms']:.1f} ms, torch {rows[-1]['torch']['median_ms']:.1f} ms",
          flush=True)
  results = {
      "command": (machine.isa_limits()["command_prefix"] + "PYTHONPATH=. python benchmarks/cpu_step.py "
                  + " ".join(sys.argv[1:] if argv is None else argv)),
      "machine": cpu, "versions": machine.versions(), "git_commit": machine.git_commit(),
      "isa_limits": machine.isa_limits(),
      "cnnjax_env": {name: {k: worker_env("jax", xla_flags=args.xla_flags,
                                          multi_output_fusion=CASES[name].get("multi_output_fusion", False)).get(k, "")
                            for k in ("XLA_FLAGS", "GLIBC_TUNABLES", "LD_PRELOAD")}
                     for name in args.models.split(",")},
      "xla_flags_override": args.xla_flags, "torch_layout_option": args.torch_layout,
      "torch_env": {k: worker_env("torch", args.torch_hugepages).get(k, "") for k in ("GLIBC_TUNABLES", "LD_PRELOAD")},
      "steps": args.steps, "rounds": args.rounds, "processes": args.processes, "warmup": args.warmup,
      "load_average_before": load_before, "models": rows,
  }
  if args.pipeline_batches > 0:
    results["pipeline"] = pipeline_vs_step(args, cpu)
  results["load_average_after"] = os.getloadavg()
  results["wall_seconds"] = time.time() - started
  results["markdown"] = markdown(results)
  machine.save_results(results, REPO / args.out, REPO)
  return 0


if __name__ == "__main__":
  sys.exit(main())
