"""What a run ran on: package versions, devices, processes and the git commit."""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import jax

PACKAGES = ("cnnjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "tensorflow-datasets", "tensorflow-cpu",
            "tensorflow", "ml-collections", "numpy")  # tensorflow where tensorflow-cpu has no wheel (pyproject.toml)
CHECKOUT = Path(__file__).resolve().parents[2]  # the folder holding cnnjax/: a checkout, or site-packages


def _version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def git_commit(path: str | Path | None = None) -> str | None:
  """The commit of the checkout holding this package (with "-dirty" if it has local changes).

  None for an installed cnnjax: site-packages may lie inside the user's own repository (a project's
  .venv), whose commit says nothing about cnnjax; versions["cnnjax"] names the release instead.
  """
  if path is None and not (CHECKOUT / "pyproject.toml").is_file():
    return None
  path = Path(path or CHECKOUT)
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                            check=True, timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                           capture_output=True, text=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return commit + ("-dirty" if dirty else "")


# Environment variables that change speed or numerics; recorded so a run can be repeated as it ran.
RUNTIME_ENV = ("XLA_FLAGS", "GLIBC_TUNABLES", "LD_PRELOAD", "CNNJAX_ONEDNN", "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES")


def describe_environment() -> dict:
  devices = jax.devices()
  return {
      "versions": {p: _version(p) for p in PACKAGES} | {"python": platform.python_version()},
      "platform": platform.platform(),
      "processor": platform.processor() or platform.machine(),
      "backend": jax.default_backend(),
      "devices": [str(d) for d in devices],
      "device_kind": devices[0].device_kind,
      "device_count": len(devices),
      "local_device_count": jax.local_device_count(),
      "process_count": jax.process_count(),
      "git_commit": git_commit(),
      "cpu_count": os.cpu_count(),
      "runtime_env": {k: os.environ[k] for k in RUNTIME_ENV if k in os.environ},
  }
