"""What machine a benchmark ran on: CPU model, cores, fp32 peak (with its derivation), versions, commit.

Why: a step time means little without the CPU's ceiling next to it; the peak is cores x GHz x
fp32 FLOP per cycle, the last read from the vector units the /proc/cpuinfo flags announce. The
clock is lscpu's maximum where published; in virtual machines, which often publish only the base
clock, it is measured (a chain of dependent integer adds retires one per cycle).
Imports nothing heavy (versions come from package metadata), so a parent process that must set
XLA flags before JAX starts can call it.
"""

import importlib.metadata
import os
import platform
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("jax", "jaxlib", "flax", "optax", "torch", "torchvision", "numpy", "tensorflow-cpu",
            "tensorflow-datasets")


def _cpuinfo() -> dict[str, str]:
  """The fields of the first processor in /proc/cpuinfo (empty off Linux)."""
  fields: dict[str, str] = {}
  try:
    text = Path("/proc/cpuinfo").read_text()
  except OSError:
    return fields
  for line in text.split("\n\n")[0].splitlines():
    if ":" in line:
      key, value = line.split(":", 1)
      fields[key.strip()] = value.strip()
  return fields


def _lscpu_max_mhz() -> float | None:
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
  except (OSError, subprocess.SubprocessError):
    return None
  for line in out.splitlines():
    if line.startswith("CPU max MHz:"):
      return float(line.split(":", 1)[1])
  return None


# 8 dependent adds per iteration: one per cycle, whatever the loop's own overhead (it runs alongside).
CLOCK_PROBE = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
  const long n = 100000000;
  long x = 0;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < n; i++)
    __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                     "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
  clock_gettime(CLOCK_MONOTONIC, &end);
  double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9;
  printf("%.1f\n", 8.0 * n / seconds / 1e6);
  return x != 8 * n;
}
"""


def measured_clock_mhz(repeats: int = 3) -> float | None:
  """The core clock under load in MHz (best of `repeats` runs of CLOCK_PROBE), or None without gcc or off x86-64."""
  if platform.machine() not in ("x86_64", "AMD64"):
    return None
  with tempfile.TemporaryDirectory() as folder:
    source, binary = Path(folder) / "clock.c", Path(folder) / "clock"
    source.write_text(CLOCK_PROBE)
    try:
      subprocess.run(["gcc", "-O1", str(source), "-o", str(binary)], check=True, capture_output=True, timeout=60)
      runs = [float(subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=60).stdout)
              for _ in range(repeats)]
    except (OSError, subprocess.SubprocessError, ValueError):
      return None
  return max(runs)


def flop_per_cycle(flags: set[str], vendor: str, family: int) -> tuple[int, str]:
  """fp32 FLOP per cycle per core and why, from the vector-unit flags (2 FMA pipes assumed)."""
  if "avx512f" in flags:
    if vendor == "AuthenticAMD" and family == 25:
      return 32, ("AVX-512 on AMD family 25 (Zen 4) runs on 256-bit datapaths: "
                  "2 FMA pipes x 8 fp32 lanes x 2 FLOP")
    return 64, "AVX-512: 2 FMA units x 16 fp32 lanes x 2 FLOP (Xeons with one 512-bit FMA unit have half)"
  if "avx2" in flags and "fma" in flags:
    return 32, "AVX2 + FMA: 2 FMA units x 8 fp32 lanes x 2 FLOP"
  if "avx" in flags:
    return 16, "AVX without FMA: 8-lane add + 8-lane multiply"
  return 8, "SSE: 4-lane add + 4-lane multiply"


def cpu_description() -> dict:
  """CPU model, usable cores, clock, flags that matter, and the fp32 peak with how it was derived."""
  info = _cpuinfo()
  flags = set(info.get("flags", "").split())
  vendor, family = info.get("vendor_id", ""), int(info.get("cpu family", "0") or 0)
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  max_mhz = _lscpu_max_mhz()
  measured = None if max_mhz else measured_clock_mhz()
  if max_mhz:
    mhz, clock_source = max_mhz, "lscpu 'CPU max MHz'"
  elif measured:
    mhz, clock_source = measured, ("measured: dependent adds per second (no max clock published; "
                                   f"/proc/cpuinfo says {float(info.get('cpu MHz', 0) or 0):.0f} MHz)")
  else:
    mhz, clock_source = (float(info.get("cpu MHz", 0) or 0),
                         "/proc/cpuinfo 'cpu MHz' (no max clock published; boost may be higher)")
  per_cycle, why = flop_per_cycle(flags, vendor, family)
  peak = cores * mhz / 1000 * per_cycle
  return {
      "model": info.get("model name", platform.processor()), "vendor": vendor, "family": family,
      "model_number": int(info.get("model", "0") or 0), "cores": cores, "ghz": mhz / 1000, "clock_source": clock_source,
      "vector_flags": sorted(f for f in flags if f in {"avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"}),
      "fp32_flop_per_cycle": per_cycle, "fp32_peak_gflops": peak,
      "peak_derivation": f"{cores} cores x {mhz / 1000:.2f} GHz ({clock_source}) x {per_cycle} FLOP/cycle ({why}) "
                         f"= {peak:.0f} GFLOP/s",
  }


def versions() -> dict:
  """Installed versions of the packages that matter here, and Python's."""
  found = {}
  for package in PACKAGES:
    try:
      found[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      found[package] = None
  return found | {"python": platform.python_version()}


def git_commit() -> str | None:
  """HEAD of this checkout ("-dirty" with local changes); imports jax's module, which starts no backend."""
  from cnnjax.train.environment import git_commit as commit_of
  return commit_of(REPO)


def isa_limits(environ=os.environ) -> dict:
  """The instruction-set caps a run was under, "native" where none: ONEDNN_MAX_CPU_ISA (oneDNN, in both
  frameworks) and XLA's --xla_cpu_max_isa. Setting both to AVX2 emulates an AVX2-only CPU on an AVX-512 one."""
  xla = [flag.split("=", 1)[1] for flag in environ.get("XLA_FLAGS", "").split() if flag.startswith("--xla_cpu_max_isa=")]
  limits = {"ONEDNN_MAX_CPU_ISA": environ.get("ONEDNN_MAX_CPU_ISA") or "native",
            "xla_cpu_max_isa": xla[-1] if xla else "native"}
  capped = set(limits.values()) != {"native"}
  limits["label"] = ("native ISA" if not capped else
                     f"ONEDNN_MAX_CPU_ISA={limits['ONEDNN_MAX_CPU_ISA']}, --xla_cpu_max_isa={limits['xla_cpu_max_isa']}")
  # What to put before the command to rerun it under the same caps.
  limits["command_prefix"] = "" if not capped else " ".join(
      [f"ONEDNN_MAX_CPU_ISA={limits['ONEDNN_MAX_CPU_ISA']}"] * (limits["ONEDNN_MAX_CPU_ISA"] != "native")
      + [f"XLA_FLAGS=--xla_cpu_max_isa={limits['xla_cpu_max_isa']}"] * (limits["xla_cpu_max_isa"] != "native")) + " "
  return limits


def save_results(results: dict, out: Path, repo: Path) -> None:
  """Prints a benchmark's Markdown table (results["markdown"]) and writes its results as JSON to `out`."""
  import json
  print(results["markdown"])
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(results, indent=2) + "\n")
  print(f"wrote {out.relative_to(repo) if out.is_relative_to(repo) else out}")
