"""`--config FILE --config.KEY=VALUE` parsing with errors that name the key and the fix.

Wraps ml_collections' config_flags on a private FlagValues (no global flag state), and
checks every override path against the loaded config first, so a typo gets close matches.
A config file that is missing, does not parse or fails in get_config() is named with its line.
absl's own --help is a flag of its global FlagValues, so `wants_help` / `flags_help` answer it here.
`--config` also takes the name of a shipped config (fashion_mnist_lenet5), which
cnnjax.train.config_files resolves to its file, in a checkout and in an installed wheel alike.

config.model_kwargs and config.augment hold only an experiment's choices, so their keys are typed from the
final config.model's fields and the augmentations' keywords (cnnjax.train.config_options) before config_flags
applies them: --config.model_kwargs.dtype=bfloat16, --config.augment.flip (choose), --noconfig.augment.flip
(drop), --config.augment.crop.padding=4 (choose and set). `--config FILE:PRESET` passes PRESET to get_config().
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
# --config.model_kwargs.KEY[=V], --[no]config.augment.NAME[=V], --config.augment.NAME.KEY[=V]
_OPTION = re.compile(r"^--?(no)?config\.(model_kwargs|augment)\.([\w.]+)(?:=(.*))?$", re.DOTALL)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
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


def _config_argument(argv: list[str]) -> str | None:
  """The value of `--config FILE[:PRESET]` / `--config=FILE[:PRESET]` in argv, or None."""
  for i, arg in enumerate(argv):
    match = _CONFIG_FILE.match(arg)
    if match:
      return match.group(1) if match.group(1) is not None else (argv[i + 1] if i + 1 < len(argv) else "")
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


def config_file_argument(argv: list[str]) -> str | None:
  """The file part of `--config FILE[:PRESET]` / `--config=FILE[:PRESET]` in argv, or None."""
  value = _config_argument(argv)
  return None if value is None else value.split(":", 1)[0]


def _get_config_failure(error: BaseException, path: str, preset: str) -> str:
  """What went wrong in `get_config(preset)` (`get_config()` for preset ""): the error config_flags wrapped into
  text, with the line of the config file that raised it."""
  while (error.__cause__ or error.__context__) is not None:
    error = error.__cause__ or error.__context__
  in_file = any(Path(f.filename).resolve() == Path(path).resolve()
                for f in traceback.extract_tb(error.__traceback__))
  if isinstance(error, InputError):
    return f"config file {path}{':' + preset if preset else ''}: {error}"
  if preset and isinstance(error, TypeError) and not in_file and "positional argument" in str(error):
    return (f"config file {path} takes no preset (its get_config() has no argument): drop ':{preset}', or see the "
            "file's docstring for the configs that have presets")
  call = f"get_config({preset!r})" if preset else "get_config()"
  return f"config file {path} failed in {call}: {_failure_in_file(error, path)}; fix the file"


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
      preset = (_config_argument(base_argv) or "").partition(":")[2]
      raise ConfigArgumentError(_get_config_failure(e, path, preset)) from e
    raise ConfigArgumentError(text.splitlines()[0]) from e
  except flags.Error as e:
    raise ConfigArgumentError(str(e).splitlines()[0]) from e
  except Exception as e:  # anything else came from running the user's config file
    if isinstance(e, AttributeError) and "get_config" in str(e):
      raise ConfigArgumentError(f"config file {path} has no get_config(); define one that returns the config "
                                "(see configs/fashion_mnist_lenet5.py)") from e
    raise ConfigArgumentError(f"config file {path} failed: {_failure_in_file(e, path)}; fix the file "
                              "(--debug shows the traceback)") from e


def _names_a_keyword(match) -> bool:
  """model_kwargs.KEY or augment.NAME.KEY (which take a value), not augment.NAME (which chooses NAME)."""
  return match.group(2) == "model_kwargs" or "." in match.group(3)


def _split_options(argv: list[str]) -> tuple[list[str], list[str]]:
  """(argv without the model_kwargs/augment overrides, those overrides as `--...=VALUE` where a value follows)."""
  rest, options = [], []
  i = 0
  while i < len(argv):
    arg = argv[i]
    match = _OPTION.match(arg)
    if not match:
      rest.append(arg)
    elif (match.group(4) is None and not match.group(1) and _names_a_keyword(match)
          and i + 1 < len(argv) and not argv[i + 1].startswith("-")):
      options.append(f"{arg}={argv[i + 1]}")  # `--config.model_kwargs.dtype bfloat16`
      i += 1
    else:
      options.append(arg)
    i += 1
  return rest, options


def _insert_typed(section, key: str, default, value_type: type | None = None) -> None:
  """Adds `key` to the unlocked `section` with its default, so that config_flags parses the value by its type."""
  from ml_collections import config_dict
  section[key] = config_dict.placeholder(value_type or object) if default is None else default


def _prepare_model_option(config, key: str, arg: str) -> None:
  from cnnjax.models import MODELS
  from cnnjax.train import config_options
  first = key.split(".")[0]
  if first in config.model_kwargs:
    return
  if config.model not in MODELS:
    raise ConfigArgumentError(f"{arg}: config.model={config.model!r} is not a registered model, so it has no options; "
                              "e.g. --config.model=lenet5")
  options = config_options.model_options(config.model)
  if first in config_options.model_building_blocks(config.model):
    raise ConfigArgumentError(f"config.model_kwargs.{first} is a building block of {config.model} (a module), not a "
                              "value: set it in a config file's Python; the command line sets "
                              f"{', '.join(sorted(options))}")
  if first not in options or first != key:
    error = config_options.unknown("config.model_kwargs", key, options, f"an option of {config.model}")
    raise ConfigArgumentError(str(error))
  _insert_typed(config.model_kwargs, key, options[key], config_options.model_option_type(config.model, key))


def _prepare_augment_option(config, name: str, key: str | None, value: str | None, negated: bool, arg: str) -> bool:
  """Chooses or drops augmentation `name` and types its keyword `key`; True if config_flags has `arg` to apply."""
  import ml_collections
  from cnnjax.train import config_options
  names = config_options.augment_names()
  if name not in names:
    raise ConfigArgumentError(str(config_options.unknown("config.augment", name, names, "an augmentation")))
  if key is None:
    chosen = value is None or value.lower() in _TRUE
    if value is not None and value.lower() not in _TRUE + _FALSE:
      raise ConfigArgumentError(f"{arg}: give --config.augment.{name} to use it, --noconfig.augment.{name} to drop it, "
                                f"or --config.augment.{name}.KEYWORD=VALUE to set a keyword")
    if negated or not chosen:
      if name in config.augment:
        del config.augment[name]
    elif name not in config.augment:
      config.augment[name] = ml_collections.ConfigDict()
    return False
  options = config_options.augment_options(name)
  if name not in config.augment:
    config.augment[name] = ml_collections.ConfigDict()
  if key not in config.augment[name]:
    if key not in options:
      raise ConfigArgumentError(str(config_options.unknown(f"config.augment.{name}", key, options,
                                                           f"a keyword of {name}")))
    _insert_typed(config.augment[name], key, options[key])
  return True


def apply_option_overrides(config, options: list[str]) -> None:
  """Applies model_kwargs/augment overrides (from _split_options) to the locked `config`, in order, after typing
  each new key by its default (cnnjax.train.config_options)."""
  passed = []
  with config.unlocked():
    for arg in options:
      negated, section, path, value = _OPTION.match(arg).groups()
      if section == "model_kwargs":
        _prepare_model_option(config, path, arg)
        passed.append(arg)
      else:
        name, _, key = path.partition(".")
        if _prepare_augment_option(config, name, key or None, value, bool(negated), arg):
          passed.append(arg)
  if not passed:
    return
  values = flags.FlagValues()
  config_flags.DEFINE_config_dict("config", config, flag_values=values, lock_config=True,
                                  sys_argv=["cnnjax", *passed])
  try:
    values(["cnnjax", *passed])
  except flags.IllegalFlagValueError as e:
    raise ConfigArgumentError(f"{str(e).splitlines()[0]}; give a value of the field's type") from e
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    raise ConfigArgumentError(str(e).splitlines()[0]) from e


def parse_config(argv: list[str], define_more=lambda flag_values: None) -> flags.FlagValues:
  """Parses argv (argv[0] is the program name) into flag values holding `.config`."""
  argv = resolve_config_argument(argv)
  argv, options = _split_options(argv)
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
  apply_option_overrides(full.config, options)  # after the rest: config.model is final
  return full
