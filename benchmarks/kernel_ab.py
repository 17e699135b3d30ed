"""cnnjax's real train step with its CPU kernels (batch norm, max pool) on and off, side by side.

Why: a profile attributes time to single operations but cannot say what a kernel saves in a whole step,
where XLA overlaps independent operations; this times the runner's step in two worker processes that
differ only in CNNJAX_BATCH_NORM_KERNELS=0 and CNNJAX_MAX_POOL_KERNELS=0, interleaved round by round.

    PYTHONPATH=. python benchmarks/kernel_ab.py [--models lenet5,cifar_resnet20] [--steps 10 --rounds 6]
"""

import argparse
import json
import statistics
import sys

import cpu_step
import machine
from step_workers import CASES

OFF = {"CNNJAX_BATCH_NORM_KERNELS": "0", "CNNJAX_MAX_POOL_KERNELS": "0"}


def measure(model: str, steps: int, rounds: int, timeout: float) -> dict:
  """Median ms per step with the kernels on and off, interleaved over `rounds` rounds of `steps` steps."""
  case = CASES[model]
  env = cpu_step.worker_env("jax", multi_output_fusion=case.get("multi_output_fusion", False))
  workers = {"on": cpu_step.Worker("jax", case, dict(env), timeout),
             "off": cpu_step.Worker("jax", case, {**env, **OFF}, timeout)}
  seconds = {name: [] for name in workers}
  for _ in range(rounds):
    for name, worker in workers.items():
      seconds[name] += worker.run(steps)
  kernels = {name: {k: v for k, v in worker.ready["fast_paths"].items() if k.endswith("_kernels")}
             for name, worker in workers.items()}
  for worker in workers.values():
    worker.close()
  on, off = (statistics.median(seconds[name]) * 1e3 for name in ("on", "off"))
  return {"model": model, "kernels_on_ms": on, "kernels_off_ms": off, "off_over_on": off / on, "kernels": kernels,
          "steps_per_worker": steps * rounds}


def markdown(rows: list[dict]) -> str:
  lines = ["| model | kernels on ms/step | kernels off ms/step | off / on |", "|---|---:|---:|---:|"]
  lines += [f"| {r['model']} | {r['kernels_on_ms']:.1f} | {r['kernels_off_ms']:.1f} | {r['off_over_on']:.3f} |"
            for r in rows]
  return "\n".join(lines)


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="lenet5,cifar_resnet20,vgg11_bn_half")
  parser.add_argument("--steps", type=int, default=10, help="timed steps per worker per round")
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--timeout", type=float, default=600)
  parser.add_argument("--out", help="also write the rows and the machine as JSON here")
  args = parser.parse_args(argv)
  rows = [measure(model, args.steps, args.rounds, args.timeout) for model in args.models.split(",")]
  print(f"CPU: {machine.cpu_description()['model']}, ISA caps: {machine.isa_limits()['label']}")
  print(markdown(rows))
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump({"command": "PYTHONPATH=. python benchmarks/kernel_ab.py " + " ".join(argv),
                 "machine": machine.cpu_description(), "git_commit": machine.git_commit(),
                 "isa_limits": machine.isa_limits(), "rows": rows}, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
