"""Compiles the native CPU libraries: `python -m cnnjax.kernels.build` (scripts/setup.sh runs it).

Why a build step: the oneDNN convolution (onednn_conv.cc) links Debian's libdnnl (`apt-get install
libdnnl-dev g++`) and JAX's FFI headers, which ship with jaxlib; the scratch cache (scratch_cache.c,
see cnnjax.fast.process) needs only a C compiler. Where something is missing the build prints why and
cnnjax runs without that library: XLA's convolutions and glibc's malloc compute the same values.
"""

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "onednn_conv.cc"
LIBRARY = HERE / "_build" / "libcnnjax_onednn.so"
SCRATCH_CACHE_SOURCE = HERE / "scratch_cache.c"
SCRATCH_CACHE_LIBRARY = HERE / "_build" / "libcnnjax_scratch_cache.so"
ONEDNN_HEADER = "oneapi/dnnl/dnnl.hpp"


def compile_command(output: Path = LIBRARY) -> list[str]:
  """The g++ command that builds `output` from onednn_conv.cc."""
  import jax.ffi  # pylint: disable=import-outside-toplevel  (only the build needs jaxlib's headers)
  return ["g++", "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-I{jax.ffi.include_dir()}", str(SOURCE),
          "-o", str(output), "-ldnnl"]


def scratch_cache_command(output: Path = SCRATCH_CACHE_LIBRARY) -> list[str]:
  """The gcc command that builds `output` from scratch_cache.c."""
  return ["gcc", "-O2", "-std=gnu11", "-shared", "-fPIC", str(SCRATCH_CACHE_SOURCE), "-o", str(output), "-ldl",
          "-lpthread"]


@dataclasses.dataclass(frozen=True)
class Target:
  """One library: what it is for, its source and default output, and how to compile it."""

  purpose: str
  source: Path
  library: Path
  command: Callable[[Path], list[str]]
  compiler: str
  install_hint: str


TARGETS = {
    "onednn": Target("oneDNN convolutions", SOURCE, LIBRARY, compile_command, "g++",
                     "apt-get install g++ libdnnl-dev"),
    "scratch_cache": Target("scratch cache", SCRATCH_CACHE_SOURCE, SCRATCH_CACHE_LIBRARY, scratch_cache_command,
                            "gcc", "apt-get install gcc"),
}


def build(output: Path | None = None, force: bool = False, target: str = "onednn") -> str | None:
  """Builds `target`'s library (at `output`, default its own path) unless it is newer than its source.

  Returns None on success, else the reason it was not built.
  """
  spec = TARGETS[target]
  output = output or spec.library
  if not force and output.exists() and output.stat().st_mtime >= spec.source.stat().st_mtime:
    return None
  if shutil.which(spec.compiler) is None:
    return f"{spec.compiler} not found: {spec.install_hint}"
  output.parent.mkdir(parents=True, exist_ok=True)
  partial = output.with_suffix(".partial")
  result = subprocess.run(spec.command(partial), capture_output=True, text=True, check=False)
  if result.returncode:
    missing = ONEDNN_HEADER in result.stderr
    hint = "oneDNN headers not found: apt-get install libdnnl-dev" if missing else result.stderr.strip()[-2000:]
    partial.unlink(missing_ok=True)
    return hint
  partial.replace(output)  # atomic: a running process never sees a half-written library
  return None


def main() -> int:
  failed = False
  for name, spec in TARGETS.items():
    reason = build(force="--force" in sys.argv[1:], target=name)
    if reason:
      failed = True
      print(f"cnnjax.kernels.build: {spec.purpose} not built ({reason}); cnnjax runs without it",
            file=sys.stderr)
    else:
      print(f"cnnjax.kernels.build: {spec.library}")
  return 1 if failed and "--strict" in sys.argv[1:] else 0


if __name__ == "__main__":
  sys.exit(main())
