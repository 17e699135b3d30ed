"""`cnnjax lecture [--out reports/lecture] [--workdir runs/lecture] [--only SECTION ...]`: regenerate the lecture figures.

`cnnjax lecture --record plain_vs_residual` instead makes the recorded trainings a section reads
(results/lecture/plain_vs_residual/, about 25 minutes on 2 CPU cores).

Thin: the sections and the index writer live in cnnjax.lecture. Both folders are relative to the
current directory, so from the checkout's root the defaults are the committed reports/lecture/.
"""

from cnnjax.commands.arguments import ArgumentParser

EXAMPLES = (
    "cnnjax lecture",
    "cnnjax lecture --only arithmetic upsampling --out /tmp/lecture --workdir /tmp/lecture_runs",
    "cnnjax lecture --record plain_vs_residual",
)
RECORDINGS = ("plain_vs_residual",)  # sections that read a recorded run: cnnjax.lecture.build.RECORDERS


def run(argv: list[str]) -> int:
  parser = ArgumentParser(prog=argv[0], description="Regenerate every worked example and figure of the "
                          "lecture (PNG figures, results.json, README.md index).", examples=EXAMPLES)
  parser.add_argument("--out", default="reports/lecture", help="folder for the figures and the README index "
                      "(default reports/lecture, relative to the current directory)")
  parser.add_argument("--workdir", default="runs/lecture", help="folder for the short trainings' runs "
                      "(default runs/lecture, relative to the current directory)")
  parser.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections, keeping the other sections "
                      "recorded in OUT/results.json (default: all)")
  parser.add_argument("--record", choices=RECORDINGS, help="instead of the report, record the trainings this "
                      "section reads (into results/lecture/SECTION/, relative to the current directory)")
  args = parser.parse_args(argv[1:])
  if args.record:
    from cnnjax.lecture import build
    results = build.RECORDERS[args.record](args.workdir)
    print(f"cnnjax lecture: recorded {args.record}: {len(results['runs'])} runs in results/lecture/{args.record}/")
    return 0
  from cnnjax.lecture import build  # JAX and matplotlib, only once the arguments are good
  results = build.build(args.out, args.workdir, args.only)  # an unknown section or dataset is an InputError
  print(f"cnnjax lecture: {len(results['sections'])} sections in {results['total_seconds'] / 60:.1f} min; "
        f"index: {args.out.rstrip('/')}/README.md")
  return 0
