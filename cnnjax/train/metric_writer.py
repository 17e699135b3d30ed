"""Run outputs: metrics.jsonl, TensorBoard event files and a progress bar, all from process 0.

A run resumed at step c first drops what was logged after checkpoint c was saved (rows after c, and
evaluations at c, which the runner repeats), in metrics.jsonl and through TensorBoard's purge step,
so every step is logged once however often the run was killed and resumed.
"""

import json
import math
import os
from pathlib import Path

import jax
from tqdm import tqdm

from cnnjax.errors import RunFailure


class MetricWriter:
  """Appends one JSON object per logged step to metrics.jsonl and mirrors scalars to TensorBoard."""

  def __init__(self, workdir: str | Path, total_steps: int, initial_step: int = 0, progress: bool = True):
    self.active = jax.process_index() == 0
    self.path = Path(workdir) / "metrics.jsonl"
    self._tb = None
    self._bar = None
    self.last_train_row = {}
    if not self.active:
      return
    kept = self._drop_rows_after(initial_step)
    self.last_train_row = next((r for r in reversed(kept) if r["split"] == "train"), {})
    from tensorboardX import SummaryWriter  # event files without TensorFlow's summary ops
    self._tb = SummaryWriter(str(Path(workdir) / "tensorboard"), purge_step=initial_step)
    for record in kept:
      if record["step"] == initial_step:  # the purge hides step `initial_step` too: log its kept rows again
        self._add_scalars(record)
    if progress:
      self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True,
                       desc="train", mininterval=2.0)

  def write(self, step: int, metrics: dict, prefix: str = "train") -> None:
    if not self.active:
      return
    record = {"step": step, "split": prefix, **{k: _plain(v) for k, v in metrics.items()}}
    try:
      with self.path.open("a") as f:
        f.write(json.dumps(record) + "\n")
    except OSError as e:
      raise RunFailure(f"could not write {self.path} ({e.strerror or e}); free disk space or fix permissions, "
                       "then run the same command again to resume from the last checkpoint") from e
    self._add_scalars(record)
    self._tb.flush()
    if self._bar is not None and prefix == "train":
      self._bar.set_postfix(loss=f"{metrics.get('loss', float('nan')):.4f}",
                            img_s=f"{metrics.get('examples_per_second', 0):.0f}", refresh=False)

  def _add_scalars(self, record: dict) -> None:
    for key, value in record.items():
      if key not in ("step", "split") and isinstance(value, (int, float)) and math.isfinite(value):
        self._tb.add_scalar(f"{record['split']}/{key}", value, record["step"])

  def _drop_rows_after(self, step: int) -> list[dict]:
    """Keeps the rows logged up to checkpoint `step` (its training row, not its evaluations)."""
    lines = self.path.read_text().splitlines() if self.path.exists() else []
    kept = [r for r in _parse_rows(lines) if r["step"] < step or (r["step"] == step and r["split"] == "train")]
    if len(kept) != len(lines):
      tmp = self.path.with_suffix(".jsonl.tmp")
      tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
      os.replace(tmp, self.path)
    return kept

  def advance(self, steps: int) -> None:
    if self._bar is not None:
      self._bar.update(steps)

  def message(self, text: str) -> None:
    if self.active:
      (self._bar.write if self._bar is not None else print)(text)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._tb is not None:
      self._tb.close()


def read_rows(path: str | Path) -> list[dict]:
  """The rows of a metrics.jsonl; a last line cut short by a crash is ignored."""
  path = Path(path)
  return _parse_rows(path.read_text().splitlines()) if path.exists() else []


def _parse_rows(lines: list[str]) -> list[dict]:
  rows = []
  for line in lines:
    try:
      rows.append(json.loads(line))
    except ValueError:
      continue
  return rows


def _plain(value):
  return value.item() if hasattr(value, "item") else value
