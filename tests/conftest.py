"""Shared test fixtures: quiet TensorFlow, tiny configs on tfds mock data, multi-device subprocesses."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.parallel import subprocesses

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]


def _run_with_devices(code: str, devices: int, timeout: float = 300, env: dict | None = None) -> str:
  """Runs `code` in a fresh Python with `devices` simulated CPU devices; returns its stdout."""
  full_env = {**os.environ, "XLA_FLAGS": subprocesses.with_device_count(os.environ.get("XLA_FLAGS", ""), devices),
              "PYTHONPATH": str(REPO), **(env or {})}
  result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=REPO)
  if result.returncode != 0:
    raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr[-4000:]}")
  return result.stdout


@pytest.fixture
def run_with_devices():
  """`run_with_devices(code, devices)`: runs code in a fresh Python with that many CPU devices."""
  return _run_with_devices


@pytest.fixture(scope="session")
def mock_cifar_config():
  """A tiny classification config on cifar10-shaped tfds mock data (run inside tfds.testing.mock_data)."""
  from cnnjax.train import config as config_lib

  def make(**overrides):
    config = config_lib.default_config()
    config.model = "lenet5"
    config.dataset.name = "cifar10"
    config.dataset.mean = (0.49, 0.48, 0.45)
    config.dataset.std = (0.25, 0.24, 0.26)
    config.batch_size = 8
    config.eval_batch_size = 8
    config.num_train_steps = 3
    config.log_every_steps = 1
    config.checkpoint_every_steps = 100
    config.eval_every_epochs = 0.0
    config.progress_bar = False
    config.optimizer.learning_rate = 0.01
    for key, value in overrides.items():
      config_lib.set_dotted(config, key, value)
    return config.lock()

  return make


def require_kernels(what: str, reason: str | None) -> None:
  """Skips the calling test when a native library is unavailable for `reason`; under CI that fails."""
  import os
  if reason and os.environ.get("CI"):
    pytest.fail(f"{what} unavailable under CI: {reason}")
  if reason:
    pytest.skip(reason)


@pytest.fixture(scope="module")
def onednn_library():
  """Skips a module whose tests need the oneDNN convolutions when they are unavailable; under CI that fails."""
  from cnnjax.kernels import onednn
  require_kernels("oneDNN convolutions", onednn.unavailable_reason())
