"""Measures every converted pair (cnnjax.weights.pairs) against its random PyTorch reference: results/weights/parity.json.

    PYTHONPATH=. .venv/bin/python experiments/weights/parity_table.py            # every pair
    PYTHONPATH=. .venv/bin/python experiments/weights/parity_table.py --only torchvision:resnet18 timm:seresnet50

Per pair: max |logits_cnnjax - logits_torch| / max |logits_torch| on one random [2, 64, 96, C] input
in eval mode, and in train mode in float64 and float32 with torch's own float32-vs-float64 difference
(cnnjax.weights.parity), the seconds it took, and the environment (jax, torch, torchvision, timm
versions, CPU). `--only` re-measures those pairs and keeps the file's other rows.
Then scripts/update_readme.py regenerates the README's Weights table from the file.
"""

import argparse
import dataclasses
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path

from cnnjax.train.environment import describe_environment
from cnnjax.weights import parity
from cnnjax.weights.pairs import pairs

OUTPUT = Path("results/weights/parity.json")
PACKAGES = ("jax", "jaxlib", "flax", "numpy", "torch", "torchvision", "timm", "safetensors")


def _version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def cpu_name() -> str:
  """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def environment() -> dict:
  env = describe_environment()
  return {"versions": {p: _version(p) for p in PACKAGES} | {"python": platform.python_version()},
          "cpu": cpu_name(), "cpu_count": env["cpu_count"], "backend": env["backend"],
          "git_commit": env["git_commit"]}


def measure_row(source: str, name: str) -> dict:
  start = time.perf_counter()
  result = parity.measure(source, name)
  return {**dataclasses.asdict(result), "input_shape": list(result.input_shape), "tolerance": 1e-4,
          "seconds": round(time.perf_counter() - start, 1)}


def _selected(only: list[str] | None) -> list[tuple[str, str]]:
  table = pairs()
  if not only:
    return list(table)
  chosen = [tuple(item.split(":", 1)) for item in only]
  unknown = [f"{s}:{n}" for s, n in chosen if (s, n) not in table]
  if unknown:
    sys.exit(f"parity_table: --only {' '.join(unknown)}: no such pair; use SOURCE:NAME of "
             f"{', '.join(f'{s}:{n}' for s, n in table)}")
  return chosen


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", nargs="+", metavar="SOURCE:NAME", help="measure only these pairs, keep the other rows")
  parser.add_argument("--output", type=Path, default=OUTPUT)
  args = parser.parse_args(argv)
  rows = {}
  if args.only and args.output.exists():
    rows = {(r["source"], r["name"]): r for r in json.loads(args.output.read_text())["pairs"]}
  for source, name in _selected(args.only):
    rows[(source, name)] = measure_row(source, name) | {"environment": environment()}
    print(json.dumps({k: v for k, v in rows[(source, name)].items() if k != "environment"}), flush=True)
  order = list(pairs())
  listed = sorted(rows.values(), key=lambda r: order.index((r["source"], r["name"])) if (r["source"], r["name"]) in order
                  else len(order))
  args.output.parent.mkdir(parents=True, exist_ok=True)
  args.output.write_text(json.dumps({"command": "PYTHONPATH=. .venv/bin/python experiments/weights/parity_table.py",
                                     "pairs": listed}, indent=2) + "\n")
  print(f"wrote {args.output} ({len(listed)} pairs)")


if __name__ == "__main__":
  main()
