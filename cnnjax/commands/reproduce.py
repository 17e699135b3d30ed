"""`cnnjax reproduce STUDY [--seeds N] [--quick] [--full] [--out reports/STUDY] [--configs configs]`: a report.

Thin: the studies, the runs and the report writer live in cnnjax.reproduce. The rows' config
files are read from --configs (default ./configs, else the configs shipped with cnnjax, so the
command works from a checkout's root and from an installed wheel alike) and the report is written
to --out (default reports/STUDY, relative to the current directory).
Errors the user can fix (an unknown study or row, a missing config file, an --out folder holding
other runs) are InputErrors, which the `cnnjax` command prints as one line; anything else is a bug
and keeps its traceback.
"""

import functools
import sys
from pathlib import Path

from cnnjax.commands.arguments import ArgumentParser, integer
from cnnjax.errors import InputError


EXAMPLES = (
    "cnnjax reproduce mnist1d --quick",
    "cnnjax reproduce fashion_mnist --seeds 3 --rows linear,lenet5",
    "cnnjax reproduce cifar10_resnet --full --out reports/cifar10_resnet",
)


def _parser() -> ArgumentParser:
  parser = ArgumentParser(prog="cnnjax reproduce", examples=EXAMPLES, description=(
      "Run a study's experiments through the ordinary runner and write a Markdown report comparing them "
      "with the published numbers. Finished runs in the output folder are reused; several processes may work on "
      "one output folder at once (each run is locked while it trains)."))
  parser.add_argument("study", help="mnist1d, fashion_mnist or cifar10_resnet")
  parser.add_argument("--seeds", type=integer(1), default=3, help="seeds 0..N-1 per row (default 3)")
  parser.add_argument("--quick", action="store_true", help="a few training steps per run: checks the pipeline, "
                      "not the numbers")
  parser.add_argument("--full", action="store_true", help="all rows, including the GPU-sized ones")
  parser.add_argument("--rows", default=None, help="comma-separated row names to run (default: the study's "
                      "default rows, or all with --full)")
  parser.add_argument("--out", default=None, help="output folder (default reports/STUDY, reports/STUDY_quick "
                      "with --quick, relative to the current directory)")
  parser.add_argument("--configs", default=None, help="folder the rows' config files are read from (default "
                      "./configs when there is one, else the configs shipped with cnnjax)")
  return parser


def _default_configs() -> Path:
  """./configs (a checkout's root, or the user's own configs), else the configs that came with cnnjax."""
  from cnnjax.train import config_files
  here = Path("configs")
  return here if here.is_dir() else (config_files.shipped_configs() or here)


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  from cnnjax.reproduce import report, runs, studies
  study = studies.get_study(args.study)
  if args.rows:
    study = study.with_rows([name.strip() for name in args.rows.split(",") if name.strip()])
  configs = Path(args.configs) if args.configs else _default_configs()
  if not configs.is_dir():
    raise InputError(f"--configs {configs}: no such folder; the study reads its config files from a configs/ "
                     "folder: pass --configs PATH/TO/configs")
  out = Path(args.out or f"reports/{study.name}{'_quick' if args.quick else ''}")
  from cnnjax.data.sources import DatasetUnavailableError, get_builder
  from cnnjax.train import hooks, runner
  train_fn = functools.partial(runner.train_and_evaluate, hooks=hooks.for_this_process())  # as `cnnjax train` runs
  try:
    runs.check_configs(study, configs, args.full)
    get_builder(study.dataset)
    measured, pair = runs.run_study(study, out, args.seeds, configs, quick=args.quick, full=args.full,
                                    train_fn=train_fn)
  except DatasetUnavailableError as e:
    print(f"cnnjax reproduce: {e} No report was written: this study has nothing measured.", file=sys.stderr)
    return 1
  except runner.TrainingInterrupted as e:
    print(f"cnnjax reproduce: {e} (finished runs are reused on the next call)", file=sys.stderr)
    return 130
  path = report.write_report(study, out, measured, pair, seeds=args.seeds, quick=args.quick, full=args.full,
                             command=" ".join(["cnnjax", "reproduce", *argv[1:]]))
  print(f"report: {path}")
  return 0
