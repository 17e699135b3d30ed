"""`--config FILE --config.KEY=VALUE` parsing with errors that name the key and the fix.

Wraps ml_collections' config_flags on a private FlagValues (no global flag state), and
checks every override path against the loaded config first, so a typo gets close matches.
"""

import difflib
import re

from absl import flags
from ml_collections import config_flags

_OVERRIDE = re.compile(r"^--?(?:no)?config\.([\w.]+)")


class ConfigArgumentError(ValueError):
  """A bad command line: unknown key, wrongly typed value or missing file."""


def define_config_flags(flag_values: flags.FlagValues, argv: list[str]) -> None:
  config_flags.DEFINE_config_file("config", None, "Path to a config file (configs/*.py) with get_config().",
                                  flag_values=flag_values, lock_config=True, sys_argv=argv)


def _all_paths(config, prefix="") -> list[str]:
  paths = []
  for key, value in config.items():
    paths.append(prefix + key)
    if hasattr(value, "items"):
      paths.extend(_all_paths(value, prefix + key + "."))
  return paths


def check_override_paths(config, argv: list[str]) -> None:
  """Raises ConfigArgumentError for the first `--config.PATH` that the config does not have."""
  known = _all_paths(config)
  for arg in argv:
    match = _OVERRIDE.match(arg)
    if match and match.group(1) not in known:
      path = match.group(1)
      close = difflib.get_close_matches(path, known, n=3, cutoff=0.6)
      hint = f"; did you mean {', '.join('config.' + c for c in close)}?" if close else ""
      raise ConfigArgumentError(f"unknown config key config.{path}{hint}")


def parse_config(argv: list[str], define_more=lambda flag_values: None) -> flags.FlagValues:
  """Parses argv (argv[0] is the program name) into flag values holding `.config`."""
  base_argv = [a for a in argv if not _OVERRIDE.match(a)]
  base = flags.FlagValues()
  define_config_flags(base, base_argv)
  define_more(base)
  try:
    base(base_argv)
  except (flags.Error, OSError, ImportError, AttributeError) as e:
    raise ConfigArgumentError(str(e).splitlines()[0]) from e
  if base.config is None:
    raise ConfigArgumentError("--config is required, e.g. --config configs/fashion_mnist_lenet5.py")
  check_override_paths(base.config, argv)
  full = flags.FlagValues()
  define_config_flags(full, argv)
  define_more(full)
  try:
    full(argv)
  except flags.IllegalFlagValueError as e:
    raise ConfigArgumentError(f"{str(e).splitlines()[0]}; give a value of the field's type") from e
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    raise ConfigArgumentError(str(e).splitlines()[0]) from e
  return full
