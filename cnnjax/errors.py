"""The two kinds of error a user can act on; the `cnnjax` command prints either as one line.

Anything else that escapes a command is a bug in cnnjax and keeps its traceback.
"""

import difflib


class InputError(ValueError):
  """Input the user can fix (a config value, a file, a dataset, a checkpoint): exit status 2."""


class RunFailure(RuntimeError):
  """A run stopped for a reason outside the code (disk full, the loss diverged): exit status 1."""


def unknown_name(field: str, value, known, list_known: bool = True) -> InputError:
  """The InputError for a name not among `known`: `field=value`, its closest known names and, if asked, all of them.

  E.g. "config.model='lenet6' is unknown; did you mean 'lenet5', 'lenet1'? Known: alexnet, ..."
  """
  known = sorted(known)
  close = difflib.get_close_matches(str(value), known, n=3, cutoff=0.6)
  message = f"{field}={value!r} is unknown"
  if close:
    message += f"; did you mean {', '.join(repr(c) for c in close)}?"
  if list_known:
    message += f" Known: {', '.join(known)}" if close else f"; known: {', '.join(known)}"
  return InputError(message)
