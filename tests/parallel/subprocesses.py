"""Helpers that run JAX in fresh processes with a chosen number of simulated CPU devices."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def with_device_count(xla_flags: str, devices: int) -> str:
  """`xla_flags` (the machine's, e.g. --xla_cpu_max_isa=AVX2, are kept) simulating `devices` CPU devices."""
  flags = [f for f in xla_flags.split() if not f.startswith("--xla_force_host_platform_device_count")]
  return " ".join(flags + [f"--xla_force_host_platform_device_count={devices}"])


def cpu_env(devices: int, path_first: tuple[str, ...] = ()) -> dict[str, str]:
  """The environment of a child process with `devices` simulated CPU devices and this checkout first on the path."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = with_device_count(env.get("XLA_FLAGS", ""), devices)
  env["PYTHONPATH"] = os.pathsep.join([*path_first, str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
  env["JAX_PLATFORMS"] = "cpu"
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  return env


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def start(args: list[str], devices: int, cwd: Path = ROOT, path_first: tuple[str, ...] = (),
          stdin: int | None = None) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, *args], env=cpu_env(devices, path_first), cwd=cwd, stdin=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def blocking_imports(folder: Path, modules: tuple[str, ...]) -> str:
  """A folder of stub packages that raise on import; put it first on PYTHONPATH to forbid `modules`."""
  for module in modules:
    (folder / module).mkdir(parents=True, exist_ok=True)
    (folder / module / "__init__.py").write_text(f"raise ImportError('{module} must not be imported here')\n")
  return str(folder)


def finish(process: subprocess.Popen, timeout: float) -> str:
  """Waits for `process`; kills it on timeout; raises with its stderr when it failed. Returns stdout."""
  try:
    out, err = process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    out, err = process.communicate()
    raise AssertionError(f"{process.args} timed out after {timeout} s; stderr tail:\n{err[-3000:]}")
  if process.returncode != 0:
    raise AssertionError(f"{process.args} exited with {process.returncode}; stderr tail:\n{err[-3000:]}")
  return out


def run_json(args: list[str], devices: int, timeout: float = 120) -> dict:
  """Runs python with `args`; its last stdout line must be a JSON object, which is returned."""
  return json.loads(finish(start(args, devices), timeout).strip().splitlines()[-1])
