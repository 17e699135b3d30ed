"""Short Fashion-MNIST trainings for the lecture figures, through cnnjax's own runner.

Why: the figures must show what cnnjax's models learn, so every training goes through
`train_and_evaluate`; this module only builds small configs, starts each run in a fresh
workdir and reads back the trained variables (latest checkpoint) and the logged curves.
"""

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import numpy as np

from cnnjax.train import config as config_lib
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.runner import train_and_evaluate

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclasses.dataclass
class Run:
  """A finished run: results.json's content, its final variables and metrics.jsonl's records."""

  results: dict
  params: dict
  batch_stats: dict
  history: list[dict]

  def curve(self, split: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `key` in the records logged under `split` ("train" or "test")."""
    records = [r for r in self.history if r["split"] == split and key in r]
    return np.array([r["step"] for r in records]), np.array([r[key] for r in records])


def small_config(model: str, *, epochs: float, learning_rate: float, weight_decay: float = 5e-4,
                 batch_size: int = 128, model_kwargs: dict | None = None, train_split: str = "train",
                 augment: dict | None = None, eval_every_epochs: float = 1.0, log_every_steps: int = 20,
                 seed: int = 0):
  """A locked runner config for a short Fashion-MNIST run (cosine schedule, momentum 0.9, no progress bar)."""
  c = config_lib.default_config()
  c.seed = seed
  c.model = model
  c.model_kwargs.update(model_kwargs or {})
  c.dataset.train_split = train_split
  c.augment.update(augment or {})
  c.num_epochs = float(epochs)
  c.batch_size = batch_size
  c.optimizer.learning_rate = learning_rate
  c.optimizer.weight_decay = weight_decay
  c.schedule.name = "cosine"
  c.log_every_steps = log_every_steps
  c.checkpoint_every_steps = 1_000_000
  c.keep_checkpoints = 1
  c.eval_every_epochs = eval_every_epochs
  c.progress_bar = False
  return c.lock()


def train(config, workdir: Path) -> Run:
  """Trains `config` from scratch in `workdir` (an old run there is removed first) and reads it back."""
  workdir = Path(workdir)
  if workdir.exists():
    shutil.rmtree(workdir)
  results = train_and_evaluate(config, workdir)
  ckpt = Checkpointer(workdir, keep=1)
  state = ckpt.restore()
  ckpt.close()
  history = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  state = jax.tree.map(np.asarray, state)
  return Run(results, state["params"], state.get("batch_stats") or {}, history)


def test_images(count: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """The first `count` Fashion-MNIST test images from `offset`, normalised as in training: [N, 28, 28, 1], [N]."""
  from cnnjax.data import pipeline  # tensorflow only when images are needed
  config = config_lib.default_config()
  data = pipeline.make_eval_iterator(config.dataset, "test", count + offset)
  batch = next(iter(data.iterator))
  return batch["image"][offset:offset + count], batch["label"][offset:offset + count]


def train_images(count: int) -> tuple[np.ndarray, np.ndarray]:
  """The first `count` Fashion-MNIST training images, normalised, not augmented: [N, 28, 28, 1], [N]."""
  from cnnjax.data import pipeline  # tensorflow only when images are needed
  config = config_lib.default_config()
  data = pipeline.make_eval_iterator(config.dataset, f"train[:{count}]", count)
  batch = next(iter(data.iterator))
  return batch["image"][:count], batch["label"][:count]
