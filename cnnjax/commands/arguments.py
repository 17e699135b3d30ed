"""argparse for the `cnnjax` subcommands: a bad flag is an InputError (one line, exit 2), not usage + exit.

Also the value types the subcommands share: integers and floats with a lower bound, and names
from a fixed list with close matches for a typo.
"""

import argparse

from cnnjax.errors import InputError, unknown_name


class ArgumentParser(argparse.ArgumentParser):
  """argparse.ArgumentParser whose errors are raised as InputError, for `cnnjax` to print as one line."""

  def error(self, message):
    raise InputError(f"{message}; see {self.prog} --help")


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
