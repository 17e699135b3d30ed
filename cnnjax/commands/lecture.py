"""`cnnjax lecture [--out reports/lecture] [--workdir runs/lecture] [--only SECTION ...]`: regenerate the lecture figures."""

import sys
from pathlib import Path

from cnnjax.commands.arguments import ArgumentParser


def _import_build():
  """experiments.lecture.build, from the installed packages or else from the checkout holding this cnnjax."""
  try:
    from experiments.lecture import build
  except ImportError:
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "experiments" / "lecture" / "build.py").exists():
      raise
    sys.path.insert(0, str(checkout))  # an editable install that predates experiments/ in the package list
    from experiments.lecture import build
  return build


def run(argv: list[str]) -> int:
  parser = ArgumentParser(prog=argv[0], description="Regenerate every worked example and figure of the "
                                   "lecture (PNG figures, results.json, README.md index).")
  parser.add_argument("--out", default="reports/lecture", help="folder for the figures and the README index")
  parser.add_argument("--workdir", default="runs/lecture", help="folder for the short trainings' runs")
  parser.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections (default: all)")
  args = parser.parse_args(argv[1:])
  try:
    build = _import_build()
  except ImportError as e:
    print(f"cnnjax lecture: cannot import experiments.lecture ({e}); run it from a checkout of the repository "
          "(the experiments/ folder next to cnnjax/ must be importable, e.g. PYTHONPATH=.)", file=sys.stderr)
    return 2
  results = build.build(args.out, args.workdir, args.only)  # an unknown section or dataset is an InputError
  print(f"cnnjax lecture: {len(results['sections'])} sections in {results['total_seconds'] / 60:.1f} min; "
        f"index: {args.out.rstrip('/')}/README.md")
  return 0
