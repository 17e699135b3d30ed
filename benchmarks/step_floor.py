"""How much of each framework's training step its convolutions take, and what that leaves of a target speed-up.

    PYTHONPATH=. python benchmarks/step_floor.py [--models cifar_resnet20,vgg11_bn_half,lenet5] [--steps 10]
        [--rounds 4] [--target 1.3] [--out benchmarks/results/step_floor.json]
(--target sets one speed-up for every model; by default each model has its own, TARGETS)

Why: both frameworks run their convolutions through oneDNN (PyTorch's CPU build bundles it; cnnjax calls it
through cnnjax.kernels.onednn). A step can be no faster than its convolutions, so "cnnjax >= T x PyTorch"
needs cnnjax's convolution time below PyTorch's step / T with room left for everything else (normalization,
activations, the optimizer). Three workers per model, interleaved as in cpu_step.py so machine load falls on
all alike:
- cnnjax's real train step (cnnjax.scaling.point, the cnnjax command's process settings); the oneDNN library
  counts the time spent inside its convolution calls (cnnjax.kernels.onednn.call_totals);
- PyTorch's eager step (benchmarks/torch_reference.py, channels_last, as cpu_step.py's faster layout);
- PyTorch's convolutions alone: the same layers' forward and convolution_backward ATen calls on random data.
Prints a Markdown table and writes JSON. Not part of the test suite.
"""

import argparse
import statistics
import sys
from pathlib import Path

import machine
from cpu_step import Worker, add_case_arguments, chosen_models, worker_env
from step_workers import CASES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ("cifar_resnet20", "vgg11_bn_half", "lenet5")
TARGETS = {"cifar_resnet20": 1.3, "vgg11_bn_half": 1.3, "lenet5": 1.5}  # the speed-ups cnnjax aims at over PyTorch


def measure(name: str, args) -> dict:
  """Interleaved rounds of the three workers of one case; medians of their per-step times in ms."""
  case = CASES[name]
  request = {"name": name, "warmup": args.warmup, "layout": "channels_last", "probe_steps": 1}
  workers = {
      "cnnjax_step": Worker("jax", request, worker_env("jax", multi_output_fusion=case.get("multi_output_fusion",
                                                                                         False)), args.timeout),
      "torch_step": Worker("torch", request, worker_env("torch"), args.timeout),
      "torch_convs": Worker("torch_convs", request, worker_env("torch"), args.timeout),
  }
  seconds = {k: [] for k in workers}
  for round_index in range(args.rounds):
    order = list(workers)[round_index % 3:] + list(workers)[:round_index % 3]
    for k in order:
      seconds[k] += workers[k].run(args.steps)
  counters = [c for c in workers["cnnjax_step"].counters if c]
  steps = args.steps * len(counters)
  row = {"model": name, "batch": case["batch"], "input_shape": list(case["input_shape"]),
         "fast_paths": workers["cnnjax_step"].ready["fast_paths"], "steps_per_worker": args.steps * args.rounds}
  row.update({f"{k}_ms": 1000 * statistics.median(v) for k, v in seconds.items()})
  row["cnnjax_convs_ms"] = 1000 * sum(c["seconds"] for c in counters) / steps if counters else None
  row["cnnjax_conv_calls_per_step"] = sum(c["calls"] for c in counters) / steps if counters else None
  row["cnnjax_conv_thread_changes_per_step"] = sum(c["thread_changes"] for c in counters) / steps if counters else None
  row["cnnjax_winograd_calls_per_step"] = (sum(c["winograd_calls"] for c in counters) / steps
                                           if counters else None)
  row["torch_conv_layers"] = workers["torch_convs"].ready["convolutions"]
  for worker in workers.values():
    worker.close()
  return derive(row, args.target or TARGETS.get(name, 1.3))


def derive(row: dict, target: float) -> dict:
  """`row`'s measured medians with what follows from them for a speed-up `target`: each step's rest after its
  convolutions, the budget (PyTorch's step / target) and what cnnjax's convolutions leave of it."""
  row = {**row, "target": target, "torch_over_cnnjax": row["torch_step_ms"] / row["cnnjax_step_ms"],
         "budget_ms": row["torch_step_ms"] / target, "torch_rest_ms": row["torch_step_ms"] - row["torch_convs_ms"]}
  if row["cnnjax_convs_ms"] is not None:
    row["cnnjax_rest_ms"] = row["cnnjax_step_ms"] - row["cnnjax_convs_ms"]
    row["budget_left_after_convs_ms"] = row["budget_ms"] - row["cnnjax_convs_ms"]
  return row


def markdown(results: dict) -> str:
  cpu = results["machine"]
  lines = [f"CPU: {cpu['model']}, {cpu['cores']} cores, {results['isa_limits']['label']}.",
           "Target: cnnjax's step at least `target` times faster than PyTorch's, i.e. at most PyTorch's step / target "
           "(the budget). Medians, ms per step.", "",
           "| model | batch | target | PyTorch step | its convolutions | its rest | budget | cnnjax step | its oneDNN "
           "convolutions | its rest | budget left after cnnjax's convolutions | torch / cnnjax |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for r in results["models"]:
    convs = "n/a" if r["cnnjax_convs_ms"] is None else f"{r['cnnjax_convs_ms']:,.1f}"
    rest = "n/a" if r["cnnjax_convs_ms"] is None else f"{r['cnnjax_rest_ms']:,.1f}"
    left = "n/a" if r["cnnjax_convs_ms"] is None else f"{r['budget_left_after_convs_ms']:,.1f}"
    lines.append(f"| {r['model']} | {r['batch']} | {r['target']:g}x | {r['torch_step_ms']:,.1f} | "
                 f"{r['torch_convs_ms']:,.1f} | {r['torch_rest_ms']:,.1f} | {r['budget_ms']:,.1f} | "
                 f"{r['cnnjax_step_ms']:,.1f} | {convs} | {rest} | {left} | {r['torch_over_cnnjax']:.2f} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  add_case_arguments(parser, DEFAULT_MODELS, steps=10, rounds=4)
  parser.add_argument("--target", type=float, default=None,
                      help="one speed-up over PyTorch for every model's budget (default: each model's, TARGETS)")
  parser.add_argument("--out", default="benchmarks/results/step_floor.json")
  args = parser.parse_args(argv)
  models = chosen_models(parser, args)
  cpu = machine.cpu_description()
  results = {"command": (machine.isa_limits()["command_prefix"] + "PYTHONPATH=. python benchmarks/step_floor.py "
                         + " ".join(sys.argv[1:] if argv is None else argv)),
             "machine": cpu, "versions": machine.versions(), "git_commit": machine.git_commit(),
             "isa_limits": machine.isa_limits(),
             "target": args.target or "per model", "steps": args.steps, "rounds": args.rounds,
             "models": [measure(name, args) for name in models]}
  results["markdown"] = markdown(results)
  machine.save_results(results, REPO / args.out, REPO)
  return 0


if __name__ == "__main__":
  sys.exit(main())
