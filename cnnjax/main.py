"""The `cnnjax` command (also `python -m cnnjax`): flags only, each subcommand delegating to its module.

    cnnjax train --config configs/fashion_mnist_lenet5.py --workdir runs/lenet5

Errors the user can act on (cnnjax.errors) are printed here, in one place, as one line:
InputError exits 2, RunFailure 1. `--debug`, anywhere on the command line, shows their traceback instead.
`cnnjax --version` prints the installed package's version; `cnnjax SUBCOMMAND --help` its flags.
"""

import os
import sys
from collections.abc import Callable

from cnnjax.commands.arguments import HELP_FLAGS
from cnnjax.errors import InputError, RunFailure, unknown_name

DEBUG_FLAG = "--debug"
VERSION_FLAGS = ("--version", "-V")


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


def _proposals(argv: list[str]) -> int:
  from cnnjax.commands import proposals
  return proposals.run(argv)


def _explain(argv: list[str]) -> int:
  from cnnjax.commands import explain
  return explain.run(argv)


def _convert(argv: list[str]) -> int:
  from cnnjax.commands import convert
  return convert.run(argv)


def _predict(argv: list[str]) -> int:
  from cnnjax.commands import predict
  return predict.run(argv)


def _export(argv: list[str]) -> int:
  from cnnjax.commands import export
  return export.run(argv)


def _detect(argv: list[str]) -> int:
  from cnnjax.commands import detect
  return detect.run(argv)


SUBCOMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "train": (_train, "train and evaluate a model from a config file"),
    "scale": (_scale, "measure throughput of the training step against the number of devices"),
    "summary": (_summary, "per-layer output shapes, parameters and multiply-adds of a model"),
    "reproduce": (_reproduce, "run a study against published numbers and write its report"),
    "lecture": (_lecture, "regenerate the lecture's worked examples and figures (reports/lecture)"),
    "segment": (_segment, "segment an image: classical methods or a trained model (overlay PNG)"),
    "proposals": (_proposals, "object proposals by selective search, drawn on an image (overlay PNG, JSON boxes)"),
    "explain": (_explain, "where a trained classifier looks: Grad-CAM or saliency heat map (PNG)"),
    "convert": (_convert, "PyTorch (torchvision, timm) weights -> a cnnjax weights directory"),
    "predict": (_predict, "top-K classes of images from a weights directory or a training run"),
    "export": (_export, "a TensorFlow SavedModel or jax.export artifact of a model, for serving"),
    "detect": (_detect, "boxes, classes and scores of a trained detector on an image (overlay PNG)"),
}


def usage() -> str:
  lines = ["usage: cnnjax SUBCOMMAND [flags]   (or python -m cnnjax SUBCOMMAND [flags])", "", "subcommands:"]
  lines += [f"  {name:10s} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
  lines += ["", "cnnjax SUBCOMMAND --help (or -h) shows a subcommand's flags and example command lines.",
            "Flag names join their words with underscores (--input_shape, --per_device_batch, --num_processes),",
            "as the --config.KEY=VALUE overrides of cnnjax train do; the dashed spellings of cnnjax 0.1",
            "(--input-shape, --per-device-batch, ...) still work until the next release, with a note.",
            f"{DEBUG_FLAG} (anywhere) shows the traceback of an error instead of its one-line message.",
            "cnnjax --version (or -V) prints the installed version."]
  return "\n".join(lines)


def version() -> str:
  """The installed cnnjax distribution's version, or a line saying that none is installed."""
  import importlib.metadata
  try:
    return importlib.metadata.version("cnnjax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown (the cnnjax package is not installed; pip install . records its version)"


def main(argv: list[str] | None = None) -> int:
  """Runs a subcommand. As the program (argv None) it first settles the process: JAX's persistent compilation
  cache (cnnjax.fast.compilation_cache), cnnjax.fast.process's XLA flags and allocator settings, which may
  re-execute Python; called in-process with an argv it never does."""
  as_program = argv is None
  given = list(sys.argv if argv is None else argv)
  debug = DEBUG_FLAG in given[1:]
  argv = [given[0]] + [a for a in given[1:] if a != DEBUG_FLAG]
  if len(argv) < 2 or argv[1] in ("help", *HELP_FLAGS):
    print(usage())
    return 0 if len(argv) >= 2 else 2
  if argv[1] in VERSION_FLAGS:
    print(f"cnnjax {version()}")
    return 0
  name = argv[1]
  if name not in SUBCOMMANDS:
    print(f"cnnjax: {unknown_name('subcommand', name, SUBCOMMANDS)}", file=sys.stderr)
    return 2
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # tf.data's C++ start-up chatter
  if as_program and not any(arg in HELP_FLAGS for arg in argv[2:]):  # help starts no JAX: nothing to settle
    from cnnjax.fast import compilation_cache, process
    compilation_cache.set_environment(os.environ)  # JAX reads it when imported; child processes inherit it
    process.prepare_process(given[1:])  # XLA CPU flags, allocator: must precede any JAX import
  command, _ = SUBCOMMANDS[name]
  try:
    return command([f"cnnjax {name}", *argv[2:]])
  except (InputError, RunFailure) as e:
    if debug:
      raise
    print(f"cnnjax {name}: {one_line(e)}", file=sys.stderr)
    return 2 if isinstance(e, InputError) else 1
  except SystemExit as e:  # argparse's --help prints the flags and exits 0: returned, as every exit status is
    return exit_status(e)


def exit_status(stop: SystemExit) -> int:
  """The status SystemExit(code) gives a process: None 0, an integer itself, anything else printed and 1."""
  if stop.code is None or isinstance(stop.code, int):
    return stop.code or 0
  print(stop.code, file=sys.stderr)
  return 1


def one_line(error: Exception) -> str:
  """The error's message on one line (line breaks and runs of spaces become single spaces)."""
  return " ".join(str(error).split())


if __name__ == "__main__":
  sys.exit(main())
