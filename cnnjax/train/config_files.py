"""The config files shipped with cnnjax, and `--config NAME` resolved to one of them.

Why: the repository keeps its experiments in configs/ at the top level, and the wheel carries the same
files as cnnjax/configs (setup.py maps the folder), so an installed cnnjax runs
`cnnjax train --config fashion_mnist_lenet5` with no checkout around. A path that exists is used as
given; a bare name (with or without .py), or a configs/NAME.py path that does not exist here, is looked
up among the shipped files; an unknown name is an InputError listing the close matches.
"""

import difflib
from pathlib import Path

from cnnjax.errors import InputError

PACKAGE = Path(__file__).resolve().parents[1]  # cnnjax/


def shipped_configs() -> Path | None:
  """The folder of config files that came with this cnnjax: cnnjax/configs in a wheel, configs/ in a checkout."""
  if (PACKAGE / "configs").is_dir():
    return PACKAGE / "configs"
  checkout = PACKAGE.parent
  if (checkout / "pyproject.toml").is_file() and (checkout / "configs").is_dir():
    return checkout / "configs"
  return None


def config_names() -> list[str]:
  """Names of the shipped config files (file names without .py), sorted."""
  folder = shipped_configs()
  return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_")) if folder else []


def _stem(file_name: str) -> str:
  return file_name[:-3] if file_name.endswith(".py") else file_name


def resolve(value: str) -> str:
  """The file `--config value` means: `value` when it exists, else the shipped config it names.

  "fashion_mnist_lenet5", "fashion_mnist_lenet5.py" and (when no such file is here)
  "configs/fashion_mnist_lenet5.py" all give the shipped file. A bare name that is not shipped raises
  InputError with the close matches; any other missing path is returned as given, for the caller's
  "does not exist".
  """
  path = Path(value)
  if not value or path.exists() or path.parent not in (Path("."), Path("configs")):
    return value
  names = config_names()
  if _stem(path.name) in names:
    return str(shipped_configs() / f"{_stem(path.name)}.py")
  if path.parent != Path("."):
    return value
  close = difflib.get_close_matches(_stem(value), names, n=3, cutoff=0.5)
  hint = f"did you mean {', '.join(close)}? " if close else ""
  raise InputError(f"--config {value}: no such file and no shipped config of that name; {hint}"
                   f"shipped configs: {', '.join(names) or 'none'}")


def sibling_config(config_file: str, name: str):
  """get_config() of the config file `name`.py beside `config_file` (a config's __file__), so one recipe can start
  from another's in configs/ of a checkout and in cnnjax/configs of a wheel alike."""
  import importlib.util
  path = Path(config_file).with_name(f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"cnnjax_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()
