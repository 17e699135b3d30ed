"""The two kinds of error a user can act on; the `cnnjax` command prints either as one line.

Anything else that escapes a command is a bug in cnnjax and keeps its traceback.
"""


class InputError(ValueError):
  """Input the user can fix (a config value, a file, a dataset, a checkpoint): exit status 2."""


class RunFailure(RuntimeError):
  """A run stopped for a reason outside the code (disk full, the loss diverged): exit status 1."""
