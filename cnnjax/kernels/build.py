"""Compiles the native kernels: `python -m cnnjax.kernels.build` (scripts/setup.sh runs it).

Why a build step: the oneDNN convolution (onednn_conv.cc) links Debian's libdnnl (`apt-get install
libdnnl-dev g++`) and JAX's FFI headers, which ship with jaxlib. Where either is missing the build
prints why and cnnjax keeps XLA's own convolutions, which compute the same values.
"""

import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("onednn_conv.cc")
LIBRARY = Path(__file__).with_name("_build") / "libcnnjax_onednn.so"
ONEDNN_HEADER = "oneapi/dnnl/dnnl.hpp"


def compile_command(output: Path = LIBRARY) -> list[str]:
  """The g++ command that builds `output` from onednn_conv.cc."""
  import jax.ffi  # pylint: disable=import-outside-toplevel  (only the build needs jaxlib's headers)
  return ["g++", "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-I{jax.ffi.include_dir()}", str(SOURCE),
          "-o", str(output), "-ldnnl"]


def build(output: Path = LIBRARY, force: bool = False) -> str | None:
  """Builds the library unless it is newer than its source; returns None on success, else the reason."""
  if not force and output.exists() and output.stat().st_mtime >= SOURCE.stat().st_mtime:
    return None
  if shutil.which("g++") is None:
    return "g++ not found: apt-get install g++ libdnnl-dev"
  output.parent.mkdir(parents=True, exist_ok=True)
  partial = output.with_suffix(".partial")
  result = subprocess.run(compile_command(partial), capture_output=True, text=True, check=False)
  if result.returncode:
    missing = ONEDNN_HEADER in result.stderr
    hint = "oneDNN headers not found: apt-get install libdnnl-dev" if missing else result.stderr.strip()[-2000:]
    partial.unlink(missing_ok=True)
    return hint
  partial.replace(output)  # atomic: a running process never sees a half-written library
  return None


def main() -> int:
  reason = build(force="--force" in sys.argv[1:])
  if reason:
    print(f"cnnjax.kernels.build: oneDNN convolutions not built ({reason}); XLA's convolutions will be used",
          file=sys.stderr)
    return 0 if "--strict" not in sys.argv[1:] else 1
  print(f"cnnjax.kernels.build: {LIBRARY}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
