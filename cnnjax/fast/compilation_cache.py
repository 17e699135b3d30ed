"""JAX's persistent compilation cache for `cnnjax` runs: where it lives and how it is switched on.

Why: compiling a training step takes seconds to tens of seconds on a CPU (DenseNet-121's about 28 s),
and a repeated or resumed run compiles the same programs again. With the cache on, JAX stores each
compiled executable on disk and a later process with the same program, flags and versions loads it
instead (results/benchmarks/compile_cache.json measures cold against warm).

The `cnnjax` command (cnnjax/main.py) calls `set_environment(os.environ)` before JAX is imported, so
JAX reads the settings from its own environment variables (JAX_COMPILATION_CACHE_DIR and the two
thresholds) and the processes a command starts (`cnnjax scale`'s points) inherit them. Importing
cnnjax changes nothing; a script opts in with `configure(directory)` (jax.config.update) before it
compiles. The cache is <cnnjax cache>/jax_compilation (the folder of cnnjax.kernels.build.cache_dir).
CNNJAX_COMPILATION_CACHE=0 turns it off, CNNJAX_COMPILATION_CACHE=DIR moves it; a
JAX_COMPILATION_CACHE_DIR the user set wins. Thresholds of zero store every program, small CPU ones
included. Steps holding the oneDNN convolutions' FFI custom calls are cached too: tracing a step registers
their targets (cnnjax.kernels.onednn) before JAX looks the program up, so a loaded executable finds them, and
it computes bit for bit what a fresh compile does (tests/commands/test_train_compile_cache.py). The cache is
trusted code: keep it in a folder only you can write to.
"""

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

CACHE_ENV = "CNNJAX_COMPILATION_CACHE"
SUBFOLDER = "jax_compilation"
# JAX's own variables (jax._src.config reads them when JAX is imported), with cnnjax's values.
JAX_DIR_ENV = "JAX_COMPILATION_CACHE_DIR"
THRESHOLDS = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",  # JAX's default, 1 s, skips every small CPU program
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",  # -1: no size limit (0 lets JAX pick a file-system one)
}


def cache_directory(environ: MutableMapping[str, str]) -> Path | None:
  """Where the cache goes under `environ`: None when CNNJAX_COMPILATION_CACHE=0, its folder when it names
  one, else <cnnjax cache>/jax_compilation."""
  value = environ.get(CACHE_ENV, "1")
  if value == "0":
    return None
  if value not in ("", "1"):
    return Path(value).expanduser()
  from cnnjax.kernels import build  # pylint: disable=import-outside-toplevel  (no JAX)
  return build.cache_dir() / SUBFOLDER


def unwritable(folder: Path) -> str | None:
  """Why `folder` cannot be used or created (its nearest existing ancestor is a file, or not writable), else None.

  Creates nothing."""
  existing = folder.absolute()
  while not existing.exists() and existing != existing.parent:
    existing = existing.parent
  if not existing.is_dir():
    return f"{existing} is not a folder"
  if not os.access(existing, os.W_OK | os.X_OK):
    return f"{existing} is not writable"
  return None


def set_environment(environ: MutableMapping[str, str]) -> Path | None:
  """Puts the cache's settings in `environ` (each one the user has not set) and returns the folder in use.

  None, with nothing set, when CNNJAX_COMPILATION_CACHE=0 or the folder cannot be created (then one line on
  stderr says why, where JAX would warn at every compile). JAX creates the folder when it first compiles, so a
  command that stops before compiling leaves none. A JAX_COMPILATION_CACHE_DIR already in `environ` is kept,
  and its thresholds are cnnjax's unless given. Call it before JAX is imported; after, `configure` applies the
  same settings.
  """
  if environ.get(CACHE_ENV) == "0":  # a JAX_COMPILATION_CACHE_DIR of the user's own still reaches JAX
    return None
  if environ.get(JAX_DIR_ENV):
    folder = Path(environ[JAX_DIR_ENV])
  else:
    folder = cache_directory(environ)
    reason = unwritable(folder)
    if reason:
      print(f"cnnjax: compilation cache off ({folder}: {reason}); set {CACHE_ENV} to a writable folder, or "
            f"{CACHE_ENV}=0 to hide this line", file=sys.stderr)
      return None
    environ[JAX_DIR_ENV] = str(folder)
  for name, value in THRESHOLDS.items():
    environ.setdefault(name, value)
  return folder


def configure(directory: str | Path | None) -> None:
  """Turns the cache on in this process at `directory` (None: off), with cnnjax's thresholds.

  For scripts and notebooks that imported JAX already; must run before the programs to cache compile.
  """
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_compilation_cache_dir", None if directory is None else str(directory))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(THRESHOLDS[
      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", int(THRESHOLDS[
      "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]))


def in_use() -> str | None:
  """The folder this process's JAX caches compiled programs in, or None."""
  import jax  # pylint: disable=import-outside-toplevel
  return jax.config.jax_compilation_cache_dir or None

