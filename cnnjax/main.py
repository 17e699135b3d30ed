"""The `cnnjax` command: flags only, each subcommand delegating to its module.

    cnnjax train --config configs/fashion_mnist_lenet5.py --workdir runs/lenet5
"""

import os
import sys
from collections.abc import Callable


def _train(argv: list[str]) -> int:
  from cnnjax.commands import train
  return train.run(argv)


def _scale(argv: list[str]) -> int:
  from cnnjax.commands import scale
  return scale.run(argv)


def _summary(argv: list[str]) -> int:
  from cnnjax.commands import summary
  return summary.run(argv)


def _reproduce(argv: list[str]) -> int:
  from cnnjax.commands import reproduce
  return reproduce.run(argv)


def _lecture(argv: list[str]) -> int:
  from cnnjax.commands import lecture
  return lecture.run(argv)


def _segment(argv: list[str]) -> int:
  from cnnjax.commands import segment
  return segment.run(argv)


SUBCOMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "train": (_train, "train and evaluate a model from a config file"),
    "scale": (_scale, "measure throughput of the training step against the number of devices"),
    "summary": (_summary, "per-layer output shapes, parameters and multiply-adds of a model"),
    "reproduce": (_reproduce, "run a study against published numbers and write its report"),
    "lecture": (_lecture, "regenerate the lecture's worked examples and figures (reports/lecture)"),
    "segment": (_segment, "segment an image: classical methods or a trained model (overlay PNG)"),
}


def usage() -> str:
  lines = ["usage: cnnjax SUBCOMMAND [flags]", "", "subcommands:"]
  lines += [f"  {name:10s} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
  lines += ["", "cnnjax SUBCOMMAND --help shows a subcommand's flags."]
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  """Runs a subcommand. As the program (argv None) it first settles the process: cnnjax.runtime's XLA
  flags and allocator settings, which may re-execute Python; called in-process with an argv it never does."""
  as_program = argv is None
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
    print(usage())
    return 0 if len(argv) >= 2 else 2
  name = argv[1]
  if name not in SUBCOMMANDS:
    import difflib
    close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
    print(f"cnnjax: unknown subcommand {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
          file=sys.stderr)
    print(usage(), file=sys.stderr)
    return 2
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # tf.data's C++ start-up chatter
  if as_program:
    from cnnjax import runtime
    runtime.prepare_process(argv[1:])  # XLA CPU flags, allocator: must precede any JAX import
  command, _ = SUBCOMMANDS[name]
  return command([f"cnnjax {name}", *argv[2:]])


if __name__ == "__main__":
  sys.exit(main())
