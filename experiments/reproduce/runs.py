"""Running a study: every (row, seed) through the ordinary runner, reusing runs already finished.

Layout of the output folder: runs/<row>/seed<k>/ (the runner's workdir: config.json,
metrics.jsonl, results.json, plus timing.json written here) and runs/<row>/seed<k>_repeat/
for the determinism check. A run with results.json is finished and reused; one without it
is resumed by the runner from its checkpoint.
"""

import dataclasses
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path

from experiments.reproduce.studies import Row, Study

TrainFn = Callable[[object, Path], dict]


@dataclasses.dataclass
class Run:
  """One finished run: where it lives, its results.json, and how long it took."""

  row: str
  seed: int
  workdir: Path
  results: dict
  wall_seconds: float | None
  reused: bool
  repeat: bool = False

  @property
  def test_accuracy(self) -> float:
    return self.results["final"]["test_accuracy"]


def load_config(path: str | Path, root: Path):
  """`get_config()` of a config file (relative to the repository root `root`)."""
  full = Path(path) if Path(path).is_absolute() else root / path
  if not full.exists():
    raise FileNotFoundError(f"config file {path} does not exist under {root}; the study needs it "
                            "(is the branch that adds it merged?)")
  spec = importlib.util.spec_from_file_location(f"_config_{full.stem}", full)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def apply_overrides(config, overrides: dict) -> None:
  """Sets dotted keys ("optimizer.learning_rate") on a locked config; unknown keys raise."""
  for key, value in overrides.items():
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
      node = node[part]
    if leaf not in node:
      raise KeyError(f"override {key!r}: config has no key {leaf!r}")
    node[leaf] = value


def row_config(study: Study, row: Row, seed: int, root: Path, quick: bool, extra: dict | None = None):
  config = load_config(row.config, root)
  apply_overrides(config, row.overrides)
  if quick:
    apply_overrides(config, study.quick_overrides)
  apply_overrides(config, extra or {})
  config.seed = seed
  return config


def run_dir(out: Path, row: str, seed: int, repeat: bool = False) -> Path:
  return out / "runs" / row / (f"seed{seed}" + ("_repeat" if repeat else ""))


def _same_config(workdir: Path, config) -> bool:
  stored = json.loads((workdir / "config.json").read_text())
  return stored == json.loads(config.to_json_best_effort())


def run_or_reuse(config, workdir: Path, train_fn: TrainFn, row: str, repeat: bool = False,
                 log: Callable[[str], None] = print) -> Run:
  """Returns the finished run in `workdir`, training (or resuming) it first if needed.

  A finished run whose config differs from `config` is an error: the report would mix experiments.
  """
  results_path = workdir / "results.json"
  if workdir.joinpath("config.json").exists() and not _same_config(workdir, config):
    raise ValueError(f"{workdir} holds a run with a different config than this study asks for "
                     "(e.g. a --quick run); use another --out folder or delete that run")
  if results_path.exists():
    timing = _read_json(workdir / "timing.json")
    log(f"reusing {workdir}")
    return Run(row, config.seed, workdir, json.loads(results_path.read_text()), timing.get("wall_seconds"),
               reused=True, repeat=repeat)
  log(f"running {row} seed {config.seed}{' (repeat)' if repeat else ''} in {workdir}")
  resumed = workdir.joinpath("checkpoints").exists()
  start = time.perf_counter()
  results = train_fn(config, workdir)
  wall = time.perf_counter() - start
  (workdir / "timing.json").write_text(json.dumps({"wall_seconds": wall, "resumed": resumed}, indent=2) + "\n")
  return Run(row, config.seed, workdir, results, wall, reused=False, repeat=repeat)


def _read_json(path: Path) -> dict:
  return json.loads(path.read_text()) if path.exists() else {}


def run_study(study: Study, out: Path, seeds: int, root: Path, quick: bool = False, full: bool = False,
              train_fn: TrainFn | None = None, repeat_train_fn: TrainFn | None = None, extra: dict | None = None,
              log: Callable[[str], None] = print) -> tuple[list[Run], tuple[Run, Run] | None]:
  """Runs every selected row for seeds 0..seeds-1, then the determinism repeat of the first seed.

  `repeat_train_fn` (default: `train_fn`) trains the repeat; tests pass a perturbed one.
  """
  if train_fn is None:
    from cnnjax.train.runner import train_and_evaluate
    train_fn = train_and_evaluate
  rows = study.selected_rows(full)
  configs = {(r.name, s): row_config(study, r, s, root, quick, extra) for r in rows for s in range(seeds)}
  runs = [run_or_reuse(configs[r.name, s], run_dir(out, r.name, s), train_fn, r.name, log=log)
          for r in rows for s in range(seeds)]
  pair = None
  if study.determinism_row in {r.name for r in rows}:
    first = next(run for run in runs if run.row == study.determinism_row and run.seed == 0)
    repeat = run_or_reuse(configs[study.determinism_row, 0], run_dir(out, study.determinism_row, 0, repeat=True),
                          repeat_train_fn or train_fn, study.determinism_row, repeat=True, log=log)
    pair = (first, repeat)
  return runs, pair
