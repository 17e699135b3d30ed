"""argparse for the `cnnjax` subcommands: a bad flag is an InputError (one line, exit 2), not usage + exit.

Flag names join their words with underscores (`--input_shape`), as absl's and ml_collections'
`--config.KEY=VALUE` do in `cnnjax train`; a parser maps the old dashed spellings it lists in
`renamed` to the new ones, with one note on stderr. `--help` ends with example command lines.
Also the value types the subcommands share: integers and floats with a lower bound, and names
from a fixed list with close matches for a typo.
"""

import argparse
import re
import sys
from collections.abc import Mapping, Sequence

from cnnjax.errors import InputError, unknown_name

CONVENTION = "cnnjax flags use underscores, as --config.KEY=VALUE overrides do"
# argparse's -h and absl's spellings (cnnjax train's flags are absl's); each prints the same flags
HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "-helpshort", "--helpfull", "-helpfull", "-?")


class ArgumentParser(argparse.ArgumentParser):
  """argparse.ArgumentParser whose errors are raised as InputError, for `cnnjax` to print as one line.

  `examples`: command lines shown at the end of --help. `renamed`: old flag spelling -> new one; an
  old spelling still works, and a note on stderr names its replacement (once per command line).
  """

  def __init__(self, *args, examples: Sequence[str] = (), renamed: Mapping[str, str] | None = None, **kwargs):
    if examples:
      kwargs["epilog"] = "\n".join(["examples:", *(f"  {example}" for example in examples)])
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    super().__init__(*args, **kwargs)
    self.add_argument(*(flag for flag in HELP_FLAGS if flag not in self._option_string_actions), action="help",
                      help=argparse.SUPPRESS)  # absl's spellings too, as in cnnjax train
    self.renamed = dict(renamed or {})

  def parse_known_args(self, args=None, namespace=None):
    args = self.respell(list(sys.argv[1:] if args is None else args))
    return super().parse_known_args(args, namespace)

  def respell(self, args: list[str]) -> list[str]:
    """`args` with each old spelling (`--old` or `--old=VALUE`) replaced by the new one; notes the ones used."""
    respelled, used = [], {}
    for i, arg in enumerate(args):
      if arg == "--":
        respelled += args[i:]
        break
      name, sep, value = arg.partition("=")
      if name in self.renamed:
        used[name] = self.renamed[name]
        arg = self.renamed[name] + sep + value
      respelled.append(arg)
    if used:
      print(f"{self.prog}: note: {', '.join(used)} {'is' if len(used) == 1 else 'are'} now "
            f"{', '.join(used.values())} ({CONVENTION}); the old spelling is accepted until the next release",
            file=sys.stderr)
    return respelled

  def error(self, message):
    raise InputError(f"{message}{self._spelling_hint(message)}; see {self.prog} --help")

  def _spelling_hint(self, message: str) -> str:
    """"; did you mean --max_side?" when an unrecognized flag is a known one spelled with dashes."""
    known = set(self._option_string_actions)
    if not message.startswith("unrecognized arguments"):
      return ""
    wanted = [f"--{flag.replace('-', '_')}" for flag in re.findall(r"(?<!\S)--([\w-]+)", message)]
    close = [flag for flag in wanted if flag in known]
    return f" (did you mean {', '.join(close)}? {CONVENTION})" if close else ""


def integer(minimum: int):
  """An argparse type: an integer >= minimum."""
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f"{value} is too small; give an integer >= {minimum}")
    return value
  return parse


def number(minimum: float, inclusive: bool = True):
  """An argparse type: a finite float >= minimum (> minimum unless inclusive)."""
  def parse(text: str) -> float:
    try:
      value = float(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value >= minimum if inclusive else value > minimum) or value == float("inf"):
      raise argparse.ArgumentTypeError(f"{value:g} is out of range; give a finite number {'>=' if inclusive else '>'} "
                                       f"{minimum:g}")
    return value
  return parse


def one_of(names, what: str):
  """An argparse type: one of `names`; a typo gets the close matches."""
  def parse(text: str) -> str:
    if text not in names:
      raise argparse.ArgumentTypeError(str(unknown_name(what, text, names)))
    return text
  return parse


def check_writable(folder, what: str) -> None:
  """Raises InputError naming `what` unless a file can be created in `folder` (an existing folder).

  Tried with a temporary file, removed at once: permission bits tell nothing about read-only
  mounts, or about root.
  """
  import tempfile
  try:
    with tempfile.TemporaryFile(dir=folder):
      pass
  except OSError as e:  # the reason (permissions, read-only mount) varies by user; --debug shows it
    raise InputError(f"{what}: cannot create files in {folder}; give a folder you can write to") from e


def check_output_folder(folder: str, flag: str) -> None:
  """Raises InputError unless `folder` is a folder, or can be made one, that this process can write to."""
  from pathlib import Path
  path = Path(folder)
  if path.exists() and not path.is_dir():
    raise InputError(f"{flag} {folder} is a file; give a folder (new, or one holding earlier output)")
  existing = next(p for p in [path, *path.parents] if p.exists())
  if not existing.is_dir():
    raise InputError(f"{flag} {folder}: {existing} is a file, so the folder cannot be made; give another path")
  check_writable(existing, f"{flag} {folder}")
