"""Whether two runs of one config and seed produced bit-identical metrics.

Compares every logged metric in metrics.jsonl (train and test records, step by step) and
the final results; timing fields (throughput) are excluded because they measure the clock.
"""

import dataclasses
import json
import math
from pathlib import Path

TIMING_KEYS = frozenset({"examples_per_second"})


@dataclasses.dataclass
class Check:
  """The outcome: how many values were compared and which differ (as readable lines)."""

  compared: int
  differences: list[str]
  max_abs_difference: float

  @property
  def identical(self) -> bool:
    return not self.differences


def _records(workdir: Path) -> dict[tuple[str, int], dict]:
  path = Path(workdir) / "metrics.jsonl"
  records = {}
  for line in path.read_text().splitlines():
    if line.strip():
      record = json.loads(line)
      records[(record["split"], record["step"])] = record
  return records


def _final(workdir: Path) -> dict:
  return json.loads((Path(workdir) / "results.json").read_text())["final"]


def compare_values(a: dict, b: dict, where: str, check: Check) -> None:
  for key in sorted(set(a) | set(b)):
    if key in TIMING_KEYS:
      continue
    check.compared += 1
    va, vb = a.get(key), b.get(key)
    if va == vb or (isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb)):
      continue
    check.differences.append(f"{where} {key}: {va!r} vs {vb!r}")
    if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
      check.max_abs_difference = max(check.max_abs_difference, abs(va - vb))
    else:
      check.max_abs_difference = math.inf


def compare_runs(first: Path, second: Path) -> Check:
  """Compares the metrics.jsonl records and results.json "final" of two workdirs exactly."""
  check = Check(0, [], 0.0)
  a, b = _records(first), _records(second)
  for key in sorted(set(a) | set(b), key=lambda k: (k[1], k[0])):
    if key not in a or key not in b:
      check.compared += 1
      check.differences.append(f"{key[0]} step {key[1]}: logged by only one run")
      check.max_abs_difference = math.inf
      continue
    compare_values(a[key], b[key], f"{key[0]} step {key[1]}", check)
  compare_values(_final(first), _final(second), "final", check)
  return check
