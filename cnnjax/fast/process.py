"""Process settings for entry points, applied before JAX starts: XLA CPU flags and the allocator.

Why: on CPU, XLA's default fusion choices and page faults on freshly mapped memory leave a training
step slower than it needs to be (benchmarks/cpu_step.py measures by how much). XLA reads its flags
once, when the CPU client starts; glibc reads GLIBC_TUNABLES, and the dynamic loader LD_PRELOAD,
when a process starts. So only an entry point can settle them, before any JAX import: `cnnjax.main`
calls `prepare_process` first thing (re-executing Python once when the allocator settings are
missing), and passes the runner the step hooks that go with them (cnnjax.train.hooks). Importing
cnnjax changes nothing; a script opts in with one call, `prepare_process()`, before it imports JAX
(a notebook: `prepare_process(reexec=False)`, XLA flags only).

Opt out with CNNJAX_XLA_CPU_FLAGS=0, CNNJAX_HUGEPAGES=0 and CNNJAX_SCRATCH_CACHE=0. Settings the
user already made win.
"""

import ctypes
import os
import platform
import sys
from collections.abc import MutableMapping, Sequence

# Measured side by side by benchmarks/cpu_step.py (runs in benchmarks/results/cpu_step.json).
# The ynn flag routes convolutions through YNNPACK one at a time instead of Eigen's fused lowering,
# which lifts the filter-gradient convolutions and never measured slower.
XLA_CPU_FLAGS: dict[str, str] = {
    "--xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
}
# Multi-output fusion stops XLA duplicating the batch-norm/ReLU/residual chain into every layout
# transpose of the backward pass: faster for narrow residual nets (ResNet-20), slower for wide ones
# (VGG, FCN), where it fuses convolutions with sibling transposes into plain loops. Opt-in per run:
# config.xla_cpu_multi_output_fusion (cnnjax train) or multi_output_fusion=True here.
MULTI_OUTPUT_FUSION_FLAGS: dict[str, str] = {
    "--xla_backend_extra_options": "xla_cpu_use_multi_output_fusion",
}

# glibc malloc tunables (read when a process starts). hugetlb=1 backs malloc's large mappings with
# transparent huge pages: XLA maps a fresh scratch buffer of hundreds of MB every training step, and
# faulting it in 2 MiB pages instead of 4 KiB ones is cheaper. tcmalloc, tried before, was as fast
# but kept two such buffers resident.
GLIBC_TUNABLES: dict[str, str] = {"glibc.malloc.hugetlb": "1"}

# The scratch cache (cnnjax/kernels/scratch_cache.c, preloaded) keeps that scratch buffer mapped
# from one step to the next, so its pages are not faulted in and zeroed again every step, while
# never holding two (the runner's before_step hook waits for the previous step: cnnjax.train.hooks).
SCRATCH_CACHE_ENV = "CNNJAX_SCRATCH_CACHE"


def with_cpu_flags(xla_flags: str, multi_output_fusion: bool = False) -> str:
  """`xla_flags` plus each of XLA_CPU_FLAGS (and MULTI_OUTPUT_FUSION_FLAGS) whose name it does not set."""
  present = {flag.split("=", 1)[0] for flag in xla_flags.split()}
  wanted = {**XLA_CPU_FLAGS, **(MULTI_OUTPUT_FUSION_FLAGS if multi_output_fusion else {})}
  added = [f"{name}={value}" for name, value in wanted.items() if name not in present]
  return " ".join([xla_flags, *added]).strip()


def with_glibc_tunables(tunables: str) -> str:
  """`tunables` (GLIBC_TUNABLES syntax, name=value:...) plus each of GLIBC_TUNABLES it does not set."""
  present = {item.split("=", 1)[0] for item in tunables.split(":") if item}
  added = [f"{name}={value}" for name, value in GLIBC_TUNABLES.items() if name not in present]
  return ":".join(item for item in [*tunables.split(":"), *added] if item)


def set_xla_flags(environ: MutableMapping[str, str], multi_output_fusion: bool = False) -> None:
  """Adds XLA_CPU_FLAGS (and MULTI_OUTPUT_FUSION_FLAGS) to environ["XLA_FLAGS"] unless CNNJAX_XLA_CPU_FLAGS=0."""
  if environ.get("CNNJAX_XLA_CPU_FLAGS", "1") == "0":
    return
  if environ is os.environ and "jax" in sys.modules:  # another process's environment is always fine
    import jax._src.xla_bridge as xla_bridge  # pylint: disable=import-outside-toplevel
    if xla_bridge.backends_are_initialized():
      print("cnnjax: JAX started before process.prepare_process; XLA CPU flags not applied",
            file=sys.stderr)
      return
  environ["XLA_FLAGS"] = with_cpu_flags(environ.get("XLA_FLAGS", ""), multi_output_fusion)


def _scratch_cache(environ: MutableMapping[str, str]) -> tuple[str | None, str | None]:
  """(library, None), (None, why it cannot be built), or (None, None) when opted out or not on glibc."""
  from cnnjax.kernels import build  # pylint: disable=import-outside-toplevel  (no JAX)
  if environ.get(SCRATCH_CACHE_ENV, "1") == "0" or platform.libc_ver()[0] != "glibc":
    return None, None
  path, reason = build.ensure("scratch_cache")  # builds it on first use, once per process
  return (str(path) if path else None), reason


def scratch_cache_library(environ: MutableMapping[str, str]) -> str | None:
  """The scratch cache library to preload, or None (CNNJAX_SCRATCH_CACHE=0, cannot be built, not glibc)."""
  return _scratch_cache(environ)[0]


def allocator_reexec_env(environ: MutableMapping[str, str]) -> dict[str, str] | None:
  """The environment to re-execute under with GLIBC_TUNABLES and the scratch cache added, or None.

  None when there is nothing to add: both are already set, opted out of (CNNJAX_HUGEPAGES=0,
  CNNJAX_SCRATCH_CACHE=0), unavailable, or the C library is not glibc.
  """
  if platform.libc_ver()[0] != "glibc":
    return None
  env = dict(environ)
  if environ.get("CNNJAX_HUGEPAGES", "1") != "0":
    env["GLIBC_TUNABLES"] = with_glibc_tunables(environ.get("GLIBC_TUNABLES", ""))
  library = scratch_cache_library(environ)
  preloads = environ.get("LD_PRELOAD", "").replace(":", " ").split()
  if library is not None and library not in preloads:
    env["LD_PRELOAD"] = " ".join([library, *preloads])
  return None if env == dict(environ) else env


def release_freed_memory() -> None:
  """Returns memory that malloc holds but nothing uses to the OS (glibc's malloc_trim).

  Why: compiling a training step leaves freed compiler memory in the heap (a hundred MB and more),
  which would otherwise count in the process's peak memory for the rest of the run. Call it after
  compiling; a no-op off glibc.
  """
  if platform.libc_ver()[0] == "glibc":
    ctypes.CDLL(None).malloc_trim(0)


def prepare_process(argv: Sequence[str] | None = None, reexec: bool = True) -> None:
  """Sets XLA flags and, when the allocator settings are missing, re-executes Python with them.

  The scratch cache is built into the user's cache on first use (cnnjax.kernels.build); where it cannot
  be, the process that runs says why on stderr, in one line.

  `argv`: the `cnnjax` command's arguments after the program name, re-executed as
  `python -m cnnjax.main *argv`; None re-executes the running program as it was started
  (sys.orig_argv). reexec=False applies the XLA flags only. Does not return when it re-executes.
  """
  set_xla_flags(os.environ)
  env = allocator_reexec_env(os.environ) if reexec else None
  if env is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "cnnjax.main", *argv] if argv is not None else list(sys.orig_argv)
    os.execve(sys.executable, command, env)
  if reexec:  # the process that runs: it says once why the scratch cache is missing
    _, reason = _scratch_cache(os.environ)
    if reason:
      from cnnjax.kernels import build  # pylint: disable=import-outside-toplevel
      print(build.notice("scratch_cache", reason), file=sys.stderr)
