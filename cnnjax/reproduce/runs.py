"""Running a study: every (row, seed) through the ordinary runner, reusing runs already finished.

Layout of the output folder: runs/<row>/seed<k>/ (the runner's workdir: config.json,
metrics.jsonl, results.json, plus timing.json written here) and runs/<row>/seed<k>_repeat/
for the determinism check. A run with results.json is finished and reused; one without it
is resumed by the runner from its checkpoint.
"""

import dataclasses
import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from cnnjax.errors import InputError
from cnnjax.reproduce.studies import Row, Study
from cnnjax.train import config as config_lib

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


def load_config(name: str, configs: Path):
  """`get_config()` of the config file `name` in the folder `configs` (the repository's configs/)."""
  full = Path(configs) / name
  if not full.exists():
    raise InputError(f"config file {name} is not in {configs}; the study needs the repository's configs/ "
                     "folder with that file (is the branch that adds it merged?)")
  spec = importlib.util.spec_from_file_location(f"_config_{full.stem}", full)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def check_configs(study: Study, configs: Path, full: bool) -> None:
  """Loads each selected row's config file once, so a missing or broken one stops a study before any data is read."""
  for row in study.selected_rows(full):
    load_config(row.config, configs)


def apply_overrides(config, overrides: dict, source: str = "the config") -> None:
  """Sets dotted keys ("optimizer.learning_rate") on a locked config; a key `source` lacks is an InputError."""
  for key, value in overrides.items():
    try:
      config_lib.set_dotted(config, key, value)
    except (KeyError, TypeError) as e:  # a locked config refuses a key it lacks; a value has no keys
      raise InputError(f"{source} has no key {key!r}, which the study sets; give --configs the repository's "
                       "configs/ folder of this version") from e


def row_config(study: Study, row: Row, seed: int, configs: Path, quick: bool, extra: dict | None = None):
  config = load_config(row.config, configs)
  source = f"config file {Path(configs) / row.config}"
  apply_overrides(config, row.overrides, source)
  if quick:
    apply_overrides(config, study.quick_overrides, source)
  apply_overrides(config, extra or {}, source)
  config.seed = seed
  return config


def run_dir(out: Path, row: str, seed: int, repeat: bool = False) -> Path:
  return out / "runs" / row / (f"seed{seed}" + ("_repeat" if repeat else ""))


def _same_config(workdir: Path, config) -> bool:
  """Whether `workdir`'s stored config.json is `config`'s experiment.

  A run stored by an older cnnjax lacks keys added to the schema since; each such key that holds its
  default (config.default_config()) in `config` changes nothing, so the stored run still counts
  (config.config_differences, the rule `cnnjax train` resumes by).
  """
  stored = json.loads((workdir / "config.json").read_text())
  return not config_lib.config_differences(stored, config)


def run_or_reuse(config, workdir: Path, train_fn: TrainFn, row: str, repeat: bool = False,
                 log: Callable[[str], None] = print) -> Run:
  """Returns the finished run in `workdir`, training (or resuming) it first if needed.

  A finished run whose config differs from `config` is an error: the report would mix experiments.
  """
  results_path = workdir / "results.json"
  if workdir.joinpath("config.json").exists() and not _same_config(workdir, config):
    raise InputError(f"{workdir} holds a run with a different config than this study asks for "
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


LOCK_NAME = ".running"


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def claim(workdir: Path) -> bool:
  """Takes `workdir` for this process (a lock file holding our pid); False while a live process holds it.

  A lock left by a process that died is taken over: the runner then resumes from the checkpoint.
  """
  workdir.mkdir(parents=True, exist_ok=True)
  lock = workdir / LOCK_NAME
  for _ in range(2):
    try:
      fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
      try:
        holder = int(lock.read_text().strip() or 0)
      except (OSError, ValueError):
        holder = 0
      if holder == os.getpid() or (holder and _alive(holder)):
        return holder == os.getpid()
      lock.unlink(missing_ok=True)
      continue
    with os.fdopen(fd, "w") as f:
      f.write(str(os.getpid()))
    return True
  return False


def release(workdir: Path) -> None:
  lock = workdir / LOCK_NAME
  if lock.exists() and lock.read_text().strip() == str(os.getpid()):
    lock.unlink()


def run_study(study: Study, out: Path, seeds: int, configs: Path, quick: bool = False, full: bool = False,
              train_fn: TrainFn | None = None, repeat_train_fn: TrainFn | None = None, extra: dict | None = None,
              log: Callable[[str], None] = print, poll_seconds: float = 10.0
              ) -> tuple[list[Run], tuple[Run, Run] | None]:
  """Runs every selected row for seeds 0..seeds-1, and the determinism repeat of the first seed.

  Each row's config file is read from the folder `configs` (the repository's configs/).

  Several processes may work on one output folder at once: each run is claimed with a lock
  file, runs held by another live process are skipped and waited for at the end.
  `repeat_train_fn` (default: `train_fn`) trains the repeat; tests pass a perturbed one.
  """
  if train_fn is None:
    from cnnjax.train.runner import train_and_evaluate
    train_fn = train_and_evaluate
  rows = study.selected_rows(full)
  configs = {(r.name, s): row_config(study, r, s, configs, quick, extra) for r in rows for s in range(seeds)}
  jobs = [(r.name, s, False) for r in rows for s in range(seeds)]
  if study.determinism_row in {r.name for r in rows}:
    jobs.append((study.determinism_row, 0, True))
  done: dict[tuple, Run] = {}
  pending = jobs
  while pending:
    waiting = []
    for row, seed, repeat in pending:
      workdir = run_dir(out, row, seed, repeat)
      if not (workdir / "results.json").exists() and not claim(workdir):
        waiting.append((row, seed, repeat))
        continue
      try:
        done[row, seed, repeat] = run_or_reuse(configs[row, seed], workdir, (repeat_train_fn or train_fn) if repeat
                                               else train_fn, row, repeat=repeat, log=log)
      finally:
        release(workdir)
    if waiting:
      log(f"waiting for {len(waiting)} run(s) that other processes are training: "
          + ", ".join(str(run_dir(out, *job)) for job in waiting))
      time.sleep(poll_seconds)
    pending = waiting
  runs = [done[job] for job in jobs if not job[2]]
  repeat_job = next((job for job in jobs if job[2]), None)
  pair = (done[repeat_job[0], 0, False], done[repeat_job]) if repeat_job else None
  return runs, pair
