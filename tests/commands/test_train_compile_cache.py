"""A second identical `cnnjax train` loads its steps from JAX's persistent compilation cache: compile time
near zero, recorded in results.json, and the very same losses; with the cache off nothing is written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["--config", "configs/fashion_mnist_lenet5.py", "--config.dataset.name=synthetic",
        "--config.dataset.image_size=28", "--config.num_train_steps=3", "--config.batch_size=8",
        "--config.eval_batch_size=64", "--config.log_every_steps=1", "--noconfig.progress_bar"]
JAX_CACHE_VARIABLES = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
                       "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES")


def _train(workdir: Path, **env: str) -> dict:
  """Runs `cnnjax train` on the tiny config in a fresh process; returns its results.json."""
  environ = {k: v for k, v in os.environ.items() if k not in JAX_CACHE_VARIABLES}
  result = subprocess.run([sys.executable, "-m", "cnnjax", "train", *TINY, "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**environ, "PYTHONPATH": str(REPO), **env})
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads((workdir / "results.json").read_text())


def _losses(workdir: Path) -> list[tuple[int, str, float]]:
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return [(row["step"], row["split"], row["loss"]) for row in rows if "loss" in row]


def test_a_second_identical_run_compiles_from_the_cache(tmp_path):
  """Where the oneDNN library is built (cnnjax.kernels), the cached train step holds its FFI custom calls."""
  cache = tmp_path / "jax_cache"
  cold_results = _train(tmp_path / "cold", CNNJAX_COMPILATION_CACHE=str(cache))
  cold = cold_results["compile"]
  assert cold["cache"]["dir"] == str(cache) and cold["cache"]["hits"] == 0 and cold["cache"]["misses"] > 0
  assert cold["train_step_from_cache"] is False and cold["eval_step_from_cache"] is False
  assert any(cache.iterdir())
  warm_results = _train(tmp_path / "warm", CNNJAX_COMPILATION_CACHE=str(cache))
  assert warm_results["environment"]["fast_paths"] == cold_results["environment"]["fast_paths"]
  warm = warm_results["compile"]
  assert warm["train_step_from_cache"] is True and warm["eval_step_from_cache"] is True
  assert warm["cache"]["hits"] > 0 and warm["cache"]["misses"] == 0  # every program of the run came from the cache
  assert warm["train_step_seconds"] < 0.3 * cold["train_step_seconds"]
  assert warm["eval_step_seconds"] < 0.5 * cold["eval_step_seconds"]
  cold_losses, warm_losses = _losses(tmp_path / "cold"), _losses(tmp_path / "warm")
  assert len(cold_losses) == 4 and warm_losses == cold_losses  # 3 training steps and the evaluation, bit for bit


@pytest.mark.slow
def test_switched_off_the_run_writes_no_cache(tmp_path):
  """CNNJAX_COMPILATION_CACHE=0: nothing in the cnnjax cache (the native libraries, off here too, would build there)."""
  results = _train(tmp_path / "run", CNNJAX_COMPILATION_CACHE="0", CNNJAX_CACHE_DIR=str(tmp_path / "cache"),
                   CNNJAX_ONEDNN="0", CNNJAX_SCRATCH_CACHE="0")
  assert results["compile"]["cache"] == {"dir": None, "hits": 0, "misses": 0}
  assert results["compile"]["train_step_from_cache"] is None and results["compile"]["train_step_seconds"] > 0
  assert not (tmp_path / "cache").exists()
