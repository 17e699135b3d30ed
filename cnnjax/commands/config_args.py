"""`--config FILE --config.KEY=VALUE` parsing with errors that name the key and the fix.

Wraps ml_collections' config_flags on a private FlagValues (no global flag state), and
checks every override path against the loaded config first, so a typo gets close matches.
A config file that is missing, does not parse or fails in get_config() is named with its line.
absl's own --help is a flag of its global FlagValues, so `wants_help` / `flags_help` answer it here.
`--config` also takes the name of a shipped config (fashion_mnist_lenet5), which
cnnjax.train.config_files resolves to its file, in a checkout and in an installed wheel alike.
"""

import difflib
import re
import sys
import traceback
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from cnnjax.commands.arguments import HELP_FLAGS
from cnnjax.errors import InputError
from cnnjax.train import config_files

_OVERRIDE = re.compile(r"^--?(?:no)?config\.([\w.]+)")
_CONFIG_FILE = re.compile(r"^--?config(?:=(.*))?$")
_CONFIG_MODULE = "config_config"  # the module name config_flags gives the `config` flag's file


class ConfigArgumentError(InputError):
  """A bad command line: unknown key, wrongly typed value, or a config file that is missing or broken."""


def define_config_flags(flag_values: flags.FlagValues, argv: list[str]) -> None:
  # config_flags loads the file with SourceFileLoader.load_module, which re-executes it inside a module of
  # that name left by an earlier load in this process: a file lacking get_config() or a name would silently
  # use the earlier file's. Each parse starts from a fresh module.
  sys.modules.pop(_CONFIG_MODULE, None)
  config_flags.DEFINE_config_file("config", None, "Path to a config file (configs/*.py) with get_config().",
                                  flag_values=flag_values, lock_config=True, sys_argv=argv)


def wants_help(argv: list[str]) -> bool:
  """Whether argv (argv[0] is the program name) asks for help before any `--` that ends the flags."""
  args = argv[1:]
  return any(arg in HELP_FLAGS for arg in (args[:args.index("--")] if "--" in args else args))


def flags_help(prog: str, description: str, define_more=lambda flag_values: None, examples: tuple[str, ...] = (),
               metavars: dict[str, str] | None = None) -> str:
  """The --help text of a command parsed by `parse_config`: its flags (as defined), overrides and examples.

  `metavars`: flag name -> what its value is, e.g. {"workdir": "DIR"} (default: N for integers, else VALUE).
  """
  metavars = {"config": "FILE", **(metavars or {})}

  def usage(flag) -> str:
    if flag.boolean:
      return f"--[no]{flag.name}"
    return f"--{flag.name} {metavars.get(flag.name) or ('N' if flag.flag_type() == 'int' else 'VALUE')}"

  flag_values = flags.FlagValues()
  define_config_flags(flag_values, [prog])
  define_more(flag_values)
  lines = [f"usage: {prog} --config FILE [--config.KEY=VALUE ...] [flags]", "", description, "", "flags:"]
  for name in flag_values:
    flag = flag_values[name]
    default = "" if flag.default in (None, False) else f" (default: {flag.default})"
    lines += [f"  {usage(flag)}", f"      {flag.help}{default}"]
  lines += ["  --config.KEY=VALUE",
            "      Override one field of the config, e.g. --config.batch_size=64 --config.optimizer.momentum=0.8;",
            "      KEY is a (dotted) name of the config file's fields, VALUE of the field's type.",
            "  --debug",
            "      Show the traceback behind a one-line error message.",
            "  -h, --help, --helpfull",
            "      Show this help and exit."]
  if examples:
    lines += ["", "examples:", *(f"  {example}" for example in examples)]
  return "\n".join(lines)


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


def config_file_argument(argv: list[str]) -> str | None:
  """The file part of `--config FILE[:ARGS]` / `--config=FILE[:ARGS]` in argv, or None."""
  for i, arg in enumerate(argv):
    match = _CONFIG_FILE.match(arg)
    if match:
      value = match.group(1) if match.group(1) is not None else (argv[i + 1] if i + 1 < len(argv) else "")
      return value.split(":", 1)[0]
  return None


def resolve_config_argument(argv: list[str]) -> list[str]:
  """argv with `--config NAME[:ARGS]` turned into the shipped file's path (cnnjax.train.config_files.resolve).

  A path that exists is left as given; an unknown bare name is a ConfigArgumentError listing close matches.
  """
  for i, arg in enumerate(argv):
    match = _CONFIG_FILE.match(arg)
    if not match:
      continue
    inline = match.group(1) is not None
    if not inline and i + 1 >= len(argv):
      return argv
    value = match.group(1) if inline else argv[i + 1]
    file, colon, args = value.partition(":")
    try:
      resolved = config_files.resolve(file) + colon + args
    except InputError as e:
      raise ConfigArgumentError(str(e)) from None
    head = arg.split("=", 1)[0]
    return [*argv[:i], f"{head}={resolved}", *argv[i + (1 if inline else 2):]]
  return argv


def check_config_file(path: str) -> None:
  """Raises ConfigArgumentError unless `path` is a readable Python file without syntax errors."""
  file = Path(path)
  if not path:
    raise ConfigArgumentError("--config needs a file, e.g. --config configs/fashion_mnist_lenet5.py")
  if not file.is_file():
    why = "is a folder" if file.is_dir() else "does not exist"
    raise ConfigArgumentError(f"config file {path} {why}; give a file such as configs/fashion_mnist_lenet5.py")
  try:
    compile(file.read_bytes(), path, "exec")
  except SyntaxError as e:
    raise ConfigArgumentError(f"config file {path} line {e.lineno}: {e.msg}; fix the file") from e
  except (OSError, ValueError) as e:
    raise ConfigArgumentError(f"config file {path} cannot be read ({e}); fix the file or its permissions") from e


def _failure_in_file(error: BaseException, path: str) -> str:
  """`ErrorType: message (line N)` for an exception raised while running the config file `path`."""
  lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
           if Path(frame.filename).resolve() == Path(path).resolve()]
  where = f" (line {lines[-1]})" if lines else ""
  return f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}{where}"


def _load_base(base: flags.FlagValues, base_argv: list[str]) -> None:
  """Parses the config file and the other flags, turning every failure into ConfigArgumentError."""
  path = config_file_argument(base_argv)
  if path is not None:
    check_config_file(path)
  try:
    base(base_argv)
  except flags.IllegalFlagValueError as e:  # config_flags re-raises get_config()'s TypeError/ValueError as text
    text = str(e)
    if "Error whilst parsing config file" in text:
      raise ConfigArgumentError(f"config file {path} failed in get_config(): {text.strip().splitlines()[-1]}; "
                                "fix the file") from e
    raise ConfigArgumentError(text.splitlines()[0]) from e
  except flags.Error as e:
    raise ConfigArgumentError(str(e).splitlines()[0]) from e
  except Exception as e:  # anything else came from running the user's config file
    if isinstance(e, AttributeError) and "get_config" in str(e):
      raise ConfigArgumentError(f"config file {path} has no get_config(); define one that returns the config "
                                "(see configs/fashion_mnist_lenet5.py)") from e
    raise ConfigArgumentError(f"config file {path} failed: {_failure_in_file(e, path)}; fix the file "
                              "(--debug shows the traceback)") from e


def parse_config(argv: list[str], define_more=lambda flag_values: None) -> flags.FlagValues:
  """Parses argv (argv[0] is the program name) into flag values holding `.config`."""
  argv = resolve_config_argument(argv)
  base_argv = [a for a in argv if not _OVERRIDE.match(a)]
  base = flags.FlagValues()
  define_config_flags(base, base_argv)
  define_more(base)
  _load_base(base, base_argv)
  if base.config is None:
    if config_file_argument(base_argv) is not None:
      raise ConfigArgumentError(f"config file {config_file_argument(base_argv)}: get_config() returned None; "
                                "return the config")
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
