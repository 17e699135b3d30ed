"""Compiles the native CPU libraries into a per-user cache, on first use or by `python -m cnnjax.kernels.build`.

Why a cache outside the package: a wheel ships the sources only (onednn_conv.cc, batch_norm.cc,
max_pool.cc, scratch_cache.c) and site-packages may be read-only, so every install, a source checkout
included, builds into $CNNJAX_CACHE_DIR, else $XDG_CACHE_HOME/cnnjax, else ~/.cache/cnnjax. A library's
file name holds a hash of its source, the machine and (for the FFI libraries) jaxlib's version, so
checkouts and versions sharing one cache never load each other's build. The oneDNN convolution links
Debian's libdnnl (`apt-get install libdnnl-dev g++`) and JAX's FFI headers, which ship with jaxlib; the
batch-norm and max-pool kernels need g++ and those headers; the scratch cache (see cnnjax.fast.process)
needs only a C compiler. Where something is missing its consumer prints one line saying why and what is
used instead: XLA's own operations and glibc's malloc compute the same values.
"""

import ctypes
import dataclasses
import functools
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "onednn_conv.cc"
WINOGRAD_HEADER = HERE / "winograd_avx2.h"  # included by onednn_conv.cc
FLUSH_HEADER = HERE / "flush_denormals.h"  # included by the three OpenMP kernels
BATCH_NORM_SOURCE = HERE / "batch_norm.cc"
MAX_POOL_SOURCE = HERE / "max_pool.cc"
SCRATCH_CACHE_SOURCE = HERE / "scratch_cache.c"
ONEDNN_HEADER = "oneapi/dnnl/dnnl.hpp"
CACHE_ENV = "CNNJAX_CACHE_DIR"


def cache_dir() -> Path:
  """cnnjax's per-user cache: $CNNJAX_CACHE_DIR, else $XDG_CACHE_HOME/cnnjax, else ~/.cache/cnnjax."""
  if os.environ.get(CACHE_ENV):
    return Path(os.environ[CACHE_ENV]).expanduser()
  xdg = os.environ.get("XDG_CACHE_HOME", "")
  return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "cnnjax"  # XDG: relative paths are ignored


def compile_command(output: Path) -> list[str]:
  """The g++ command that builds `output` from onednn_conv.cc."""
  import jax.ffi  # pylint: disable=import-outside-toplevel  (only the build needs jaxlib's headers)
  return ["g++", "-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-w", f"-I{jax.ffi.include_dir()}",
          str(SOURCE), "-o", str(output), "-ldnnl"]


def openmp_command(source: Path) -> Callable[[Path], list[str]]:
  """The g++ command that builds an FFI library from `source` with OpenMP and no other library."""
  def command(output: Path) -> list[str]:
    import jax.ffi  # pylint: disable=import-outside-toplevel  (only the build needs jaxlib's headers)
    return ["g++", "-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-w", f"-I{jax.ffi.include_dir()}",
            str(source), "-o", str(output)]
  return command


def scratch_cache_command(output: Path) -> list[str]:
  """The gcc command that builds `output` from scratch_cache.c."""
  return ["gcc", "-O2", "-std=gnu11", "-shared", "-fPIC", str(SCRATCH_CACHE_SOURCE), "-o", str(output), "-ldl",
          "-lpthread"]


@dataclasses.dataclass(frozen=True)
class Target:
  """One library: what it is for, its source and file name, how to compile it, and what runs without it."""

  purpose: str
  source: Path
  name: str  # the library's file name without the hash, e.g. libcnnjax_onednn
  command: Callable[[Path], list[str]]
  compiler: str
  install_hint: str
  built_against: tuple[str, ...]  # packages whose version the build depends on (their headers)
  fallback: str  # what computes instead, for the notice
  opt_out: str  # the environment variable that turns the library off (=0)
  headers: tuple[Path, ...] = ()  # our headers the source includes (part of the hash, like the source)

  def files(self) -> tuple[Path, ...]:
    return (self.source, *self.headers)


TARGETS = {
    "onednn": Target("oneDNN convolutions", SOURCE, "libcnnjax_onednn", compile_command, "g++",
                     "apt-get install g++ libdnnl-dev", ("jaxlib",), "XLA's convolutions are used (same values, "
                     "slower gradients)", "CNNJAX_ONEDNN", (WINOGRAD_HEADER, FLUSH_HEADER)),
    "batch_norm": Target("batch-norm kernels", BATCH_NORM_SOURCE, "libcnnjax_batch_norm",
                         openmp_command(BATCH_NORM_SOURCE), "g++", "apt-get install g++", ("jaxlib",),
                         "XLA's fusions compute batch norm (same values, slower steps)", "CNNJAX_BATCH_NORM_KERNELS",
                         (FLUSH_HEADER,)),
    "max_pool": Target("max-pool kernels", MAX_POOL_SOURCE, "libcnnjax_max_pool", openmp_command(MAX_POOL_SOURCE),
                       "g++", "apt-get install g++", ("jaxlib",), "XLA computes max pooling (same values, slower "
                       "steps)", "CNNJAX_MAX_POOL_KERNELS", (FLUSH_HEADER,)),
    "scratch_cache": Target("scratch cache", SCRATCH_CACHE_SOURCE, "libcnnjax_scratch_cache", scratch_cache_command,
                            "gcc", "apt-get install gcc", (), "glibc's malloc alone is used (same values, slower "
                            "steps)", "CNNJAX_SCRATCH_CACHE"),
}


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return "none"


def library_path(target: str = "onednn") -> Path:
  """Where `target`'s library is (or will be) built: <cache>/kernels/<name>-<hash>.so.

  The hash covers the source, the machine and the versions of `built_against`, so a changed source or
  a jaxlib upgrade builds a new library instead of loading a stale one.
  """
  spec = TARGETS[target]
  digest = hashlib.sha256(b"".join(path.read_bytes() for path in spec.files()))
  digest.update(" ".join([platform.machine(), *(f"{p}=={_version(p)}" for p in spec.built_against)]).encode())
  return cache_dir() / "kernels" / f"{spec.name}-{digest.hexdigest()[:16]}.so"


def build(output: Path | None = None, force: bool = False, target: str = "onednn") -> str | None:
  """Builds `target`'s library (at `output`, default library_path(target)) unless it is newer than its source.

  Returns None on success, else the reason it was not built.
  """
  spec = TARGETS[target]
  output = output or library_path(target)
  if not force and output.exists() and output.stat().st_mtime >= max(
      path.stat().st_mtime for path in spec.files()):
    return None
  if shutil.which(spec.compiler) is None:
    return f"{spec.compiler} not found: {spec.install_hint}"
  try:
    output.parent.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    return f"cannot create {output.parent} ({error.strerror}): set {CACHE_ENV} to a writable folder"
  partial = output.with_name(f".{output.name}.{os.getpid()}.partial")  # one per process: builds may race
  result = subprocess.run(spec.command(partial), capture_output=True, text=True, check=False)
  if result.returncode:
    missing = ONEDNN_HEADER in result.stderr
    hint = "oneDNN headers not found: apt-get install libdnnl-dev" if missing else result.stderr.strip()[-2000:]
    partial.unlink(missing_ok=True)
    return hint
  partial.replace(output)  # atomic: a running process never sees a half-written library
  return None


@functools.cache
def _build_once(target: str, path: Path) -> str | None:
  if shutil.which(TARGETS[target].compiler):
    print(f"cnnjax: building the {TARGETS[target].purpose} into {path.parent} (once) ...", file=sys.stderr,
          flush=True)
  return build(path, target=target)


def ensure(target: str) -> tuple[Path | None, str | None]:
  """(`target`'s library, None), building it on first use, or (None, why it cannot be built).

  Tries at most once per process and cache folder; prints one line on stderr when it builds.
  Consumers print notice(target, reason) where they fall back, so a fallback is never silent.
  """
  path = library_path(target)
  reason = None if path.exists() else _build_once(target, path)
  return (None, reason) if reason else (path, None)


def load_ffi(target: str, handlers: dict[str, str]) -> tuple[ctypes.CDLL | None, str | None]:
  """Builds `target` on first use, loads it and registers its XLA FFI `handlers` ({FFI name: symbol}) for the CPU.

  (library, None) on success; else (None, why not), the reason also printed on stderr (notice, one line).
  Callers cache the answer: once per process.
  """
  path, reason = ensure(target)
  library = None
  if path is not None:
    try:
      library = ctypes.cdll.LoadLibrary(str(path))
    except OSError as error:
      reason = f"{path} does not load ({error}): rebuild with python -m cnnjax.kernels.build --force"
  if reason:
    print(notice(target, reason), file=sys.stderr)
    return None, reason
  import jax  # pylint: disable=import-outside-toplevel  (the build alone needs no JAX runtime)
  for name, symbol in handlers.items():
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(library, symbol)), platform="cpu")
  return library, None


@functools.cache
def _loaded(target: str, handlers: tuple[tuple[str, str], ...]) -> tuple[ctypes.CDLL | None, str | None]:
  return load_ffi(target, dict(handlers))


def cpu_ffi_unavailable_reason(target: str, handlers: dict[str, str]) -> str | None:
  """Why `target`'s FFI `handlers` are not in use in this process, or None: on the CPU backend, not opted
  out (`opt_out`=0), built and loaded (once per process; a failure is said once on stderr)."""
  import jax  # pylint: disable=import-outside-toplevel  (the build alone needs no JAX runtime)
  if jax.default_backend() != "cpu":
    return f"backend {jax.default_backend()}"
  if os.environ.get(TARGETS[target].opt_out, "1") == "0":
    return f"{TARGETS[target].opt_out}=0"
  return _loaded(target, tuple(sorted(handlers.items())))[1]


def notice(target: str, reason: str) -> str:
  """The one line a consumer prints on stderr when `target`'s library is not in use for `reason`."""
  spec = TARGETS[target]
  return (f"cnnjax: {spec.purpose} unavailable ({' '.join(reason.split())[:300]}); {spec.fallback}. "
          f"{spec.opt_out}=0 opts out and hides this line.")


def main() -> int:
  failed = False
  for name, spec in TARGETS.items():
    reason = build(force="--force" in sys.argv[1:], target=name)
    if reason:
      failed = True
      print(f"cnnjax.kernels.build: {spec.purpose} not built ({reason}); cnnjax runs without it",
            file=sys.stderr)
    else:
      print(f"cnnjax.kernels.build: {library_path(name)}")
  return 1 if failed and "--strict" in sys.argv[1:] else 0


if __name__ == "__main__":
  sys.exit(main())
