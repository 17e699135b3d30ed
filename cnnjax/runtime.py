"""Process settings the `cnnjax` command applies before JAX starts: XLA CPU flags and tcmalloc.

Why: on CPU, XLA's default convolution lowering and glibc malloc leave a training step
about 1.4-2x slower than it needs to be (benchmarks/cpu_step.py measures it). XLA reads its
flags once, when the CPU client starts, and the allocator must be preloaded by whoever starts
Python, so both have to be settled before any JAX import; `cnnjax.main` calls `prepare_process`
first thing. Library users who import cnnjax directly can call it themselves, or set
XLA_FLAGS (with_cpu_flags) and LD_PRELOAD (tcmalloc_library) by hand.

Opt out with CNNJAX_XLA_CPU_FLAGS=0 and CNNJAX_TCMALLOC=0. Flags the user already set win.
"""

import os
import sys
from collections.abc import MutableMapping, Sequence

# Measured effect (benchmarks/cpu_step.py, results in benchmarks/results/): the ynn flag routes
# convolutions through YNNPACK one at a time instead of Eigen's fused lowering, which lifts the
# filter-gradient convolutions several-fold and never measured slower here.
XLA_CPU_FLAGS: dict[str, str] = {
    "--xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
}
# Multi-output fusion stops XLA duplicating the batch-norm/ReLU/residual chain into every layout
# transpose of the backward pass: ResNet-20 ~1.4x faster, but wider nets (VGG, FCN) 1.6-3.5x slower
# because it fuses convolutions with sibling transposes into plain loops. Opt-in per run:
# config.xla_cpu_multi_output_fusion (cnnjax train) or multi_output_fusion=True here.
MULTI_OUTPUT_FUSION_FLAGS: dict[str, str] = {
    "--xla_backend_extra_options": "xla_cpu_use_multi_output_fusion",
}

TCMALLOC_CANDIDATES: tuple[str, ...] = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/lib/libtcmalloc_minimal.so.4",
)


def with_cpu_flags(xla_flags: str, multi_output_fusion: bool = False) -> str:
  """`xla_flags` plus each of XLA_CPU_FLAGS (and MULTI_OUTPUT_FUSION_FLAGS) whose name it does not set."""
  present = {flag.split("=", 1)[0] for flag in xla_flags.split()}
  wanted = {**XLA_CPU_FLAGS, **(MULTI_OUTPUT_FUSION_FLAGS if multi_output_fusion else {})}
  added = [f"{name}={value}" for name, value in wanted.items() if name not in present]
  return " ".join([xla_flags, *added]).strip()


def tcmalloc_library() -> str | None:
  """Path of an installed tcmalloc (Debian: libtcmalloc-minimal4), or None."""
  return next((path for path in TCMALLOC_CANDIDATES if os.path.exists(path)), None)


def set_xla_flags(environ: MutableMapping[str, str], multi_output_fusion: bool = False) -> None:
  """Adds XLA_CPU_FLAGS (and MULTI_OUTPUT_FUSION_FLAGS) to environ["XLA_FLAGS"] unless CNNJAX_XLA_CPU_FLAGS=0."""
  if environ.get("CNNJAX_XLA_CPU_FLAGS", "1") == "0":
    return
  if environ is os.environ and "jax" in sys.modules:  # another process's environment is always fine
    import jax._src.xla_bridge as xla_bridge  # pylint: disable=import-outside-toplevel
    if xla_bridge.backends_are_initialized():
      print("cnnjax: JAX started before runtime.prepare_process; XLA CPU flags not applied",
            file=sys.stderr)
      return
  environ["XLA_FLAGS"] = with_cpu_flags(environ.get("XLA_FLAGS", ""), multi_output_fusion)


def tcmalloc_reexec_env(environ: MutableMapping[str, str]) -> dict[str, str] | None:
  """The environment to re-execute under with tcmalloc preloaded, or None when not needed."""
  library = tcmalloc_library()
  preload = environ.get("LD_PRELOAD", "")
  if environ.get("CNNJAX_TCMALLOC", "1") == "0" or library is None or "tcmalloc" in preload:
    return None
  env = dict(environ)
  env["LD_PRELOAD"] = f"{library} {preload}".strip()
  return env


def prepare_process(argv: Sequence[str]) -> None:
  """Sets XLA flags and, when tcmalloc is installed but not loaded, re-executes Python with it.

  `argv` are the command's arguments after the program name; the re-executed process runs
  `python -m cnnjax.main *argv`. Does not return when it re-executes.
  """
  set_xla_flags(os.environ)
  env = tcmalloc_reexec_env(os.environ)
  if env is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "cnnjax.main", *argv], env)
