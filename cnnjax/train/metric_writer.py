"""Run outputs: metrics.jsonl, TensorBoard event files and a progress bar, all from process 0."""

import json
import math
from pathlib import Path

import jax
from tqdm import tqdm


class MetricWriter:
  """Appends one JSON object per logged step to metrics.jsonl and mirrors scalars to TensorBoard."""

  def __init__(self, workdir: str | Path, total_steps: int, initial_step: int = 0, progress: bool = True):
    self.active = jax.process_index() == 0
    self.path = Path(workdir) / "metrics.jsonl"
    self._tb = None
    self._bar = None
    if not self.active:
      return
    from tensorboardX import SummaryWriter  # event files without TensorFlow's summary ops
    self._tb = SummaryWriter(str(Path(workdir) / "tensorboard"))
    if progress:
      self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True,
                       desc="train", mininterval=2.0)

  def write(self, step: int, metrics: dict, prefix: str = "train") -> None:
    if not self.active:
      return
    record = {"step": step, "split": prefix, **{k: _plain(v) for k, v in metrics.items()}}
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    for key, value in record.items():
      if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
        self._tb.add_scalar(f"{prefix}/{key}", value, step)
    self._tb.flush()
    if self._bar is not None and prefix == "train":
      self._bar.set_postfix(loss=f"{metrics.get('loss', float('nan')):.4f}",
                            img_s=f"{metrics.get('examples_per_second', 0):.0f}", refresh=False)

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


def _plain(value):
  return value.item() if hasattr(value, "item") else value
