"""`cnnjax reproduce STUDY [--seeds N] [--quick] [--full] [--out reports/STUDY]`: a reproduction report.

Thin: the studies, the runs and the report writer live in experiments/reproduce (next to
configs/, which the studies reference by path), so this needs the repository checkout.
"""

import sys
from pathlib import Path

from cnnjax.commands.arguments import ArgumentParser, integer

REPO_ROOT = Path(__file__).resolve().parents[2]


def _parser() -> ArgumentParser:
  parser = ArgumentParser(prog="cnnjax reproduce", description=(
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
                      "with --quick)")
  return parser


def _import_experiments():
  if str(REPO_ROOT) not in sys.path and (REPO_ROOT / "experiments").is_dir():
    sys.path.insert(0, str(REPO_ROOT))
  try:
    from experiments.reproduce import report, runs, studies
  except ImportError as e:
    raise SystemExit(f"cnnjax reproduce: experiments/reproduce is not importable ({e}); run it from a checkout "
                     "of the cnnjax repository") from e
  return report, runs, studies


def run(argv: list[str]) -> int:
  args = _parser().parse_args(argv[1:])
  report, runs, studies = _import_experiments()
  try:
    study = studies.get_study(args.study)
    if args.rows:
      study = study.with_rows([name.strip() for name in args.rows.split(",") if name.strip()])
  except KeyError as e:
    print(f"cnnjax reproduce: {e.args[0]}", file=sys.stderr)
    return 2
  out = Path(args.out or f"reports/{study.name}{'_quick' if args.quick else ''}")
  from cnnjax.data.sources import DatasetUnavailableError, get_builder
  from cnnjax.train.runner import TrainingInterrupted
  try:
    get_builder(study.dataset)
    measured, pair = runs.run_study(study, out, args.seeds, REPO_ROOT, quick=args.quick, full=args.full)
  except DatasetUnavailableError as e:
    print(f"cnnjax reproduce: {e} No report was written: this study has nothing measured.", file=sys.stderr)
    return 1
  except TrainingInterrupted as e:
    print(f"cnnjax reproduce: {e} (finished runs are reused on the next call)", file=sys.stderr)
    return 130
  except (FileNotFoundError, KeyError, ValueError) as e:
    print(f"cnnjax reproduce: {e}", file=sys.stderr)
    return 1
  path = report.write_report(study, out, measured, pair, seeds=args.seeds, quick=args.quick, full=args.full,
                             command=" ".join(["cnnjax", "reproduce", *argv[1:]]))
  print(f"report: {path}")
  return 0
