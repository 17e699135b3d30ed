"""`cnnjax lecture [--out reports/lecture] [--workdir runs/lecture] [--only SECTION ...]`: regenerate the lecture figures.

Thin: the sections and the index writer live in cnnjax.lecture. Both folders are relative to the
current directory, so from the checkout's root the defaults are the committed reports/lecture/.
"""

from cnnjax.commands.arguments import ArgumentParser

EXAMPLES = (
    "cnnjax lecture",
    "cnnjax lecture --only arithmetic upsampling --out /tmp/lecture --workdir /tmp/lecture_runs",
)


def run(argv: list[str]) -> int:
  parser = ArgumentParser(prog=argv[0], description="Regenerate every worked example and figure of the "
                          "lecture (PNG figures, results.json, README.md index).", examples=EXAMPLES)
  parser.add_argument("--out", default="reports/lecture", help="folder for the figures and the README index "
                      "(default reports/lecture, relative to the current directory)")
  parser.add_argument("--workdir", default="runs/lecture", help="folder for the short trainings' runs "
                      "(default runs/lecture, relative to the current directory)")
  parser.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections, keeping the other sections "
                      "recorded in OUT/results.json (default: all)")
  args = parser.parse_args(argv[1:])
  from cnnjax.lecture import build  # JAX and matplotlib, only once the arguments are good
  results = build.build(args.out, args.workdir, args.only)  # an unknown section or dataset is an InputError
  print(f"cnnjax lecture: {len(results['sections'])} sections in {results['total_seconds'] / 60:.1f} min; "
        f"index: {args.out.rstrip('/')}/README.md")
  return 0
