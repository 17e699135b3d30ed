"""PyTorch training script equivalent to `cnnjax train --config configs/fashion_mnist_resnet20.py` (CPU).

    python benchmarks/torch_fashion_mnist.py [--seed 0] [--epochs 15] [--train_examples N] [--test_examples N]
        [--layout channels_last|nchw] [--out FILE.json]

Why: benchmarks/time_to_accuracy.py races it against cnnjax from a cold start. Same model (the CIFAR
ResNet-20 twin of benchmarks/torch_reference.py: stride-1 stem, 1x28x28 in), same recipe as the config:
SGD with Nesterov momentum 0.9, lr 0.1 by optax's warmup-then-cosine schedule as cnnjax.train.optim builds it
(per step; a linear warmup over round(0.3 x steps per epoch) steps from 0, the first update at rate 0), L2 weight
decay 5e-4 on the weights (ndim > 1) only, batch 128 reshuffled every epoch with the last partial batch dropped
(cnnjax's drop_remainder), images scaled to [0, 1] and normalised by mean 0.2860 / std 0.3530, then a 2-pixel
zero-pad random crop and a random left-right flip per example (on the normalised images, in cnnjax's in-step
augmentation's order), and an evaluation on the test images in batches of 1000 after every epoch. Data: the real
Fashion-MNIST IDX archives read with numpy (Debian's dataset-fashion-mnist, as cnnjax's setup uses), no
network. Written the way an efficient PyTorch user would: whole dataset as one tensor, augmentation vectorised
on the batch, eager mode on all cores, channels_last (faster for this model on this CPU:
benchmarks/results/cpu_step.json).
Left as each framework has it: the random streams (initialisation, order, augmentation), torch's unbiased
running variance in batch norm (flax keeps the biased one), and cnnjax's checkpoints and logs, which this script
does not write.
Prints one JSON line per evaluation: {"epoch", "step", "test_accuracy", "seconds_since_start", ...}, flushed.
Not part of the test suite (tests/perf/test_time_to_accuracy.py runs it tiny).
"""

import time

_START = time.perf_counter()  # before torch's import: the script's cold start counts from here

# pylint: disable=wrong-import-position
import argparse
import gzip
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import torch_reference

# configs/fashion_mnist_resnet20.py and cnnjax.train.config.default_config (tests/perf/test_time_to_accuracy.py
# checks these against them).
RECIPE = {"model": "cifar_resnet20", "batch_size": 128, "eval_batch_size": 1000, "num_epochs": 15.0,
          "learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "warmup_epochs": 0.3,
          "mean": 0.2860, "std": 0.3530, "crop_padding": 2, "flip_probability": 0.5}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
LAYOUTS = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def archive_dir(given: str | None) -> Path:
  """The folder holding the four IDX archives: --data_dir, else Debian's, else tfds's manual-download folder."""
  tfds_manual = Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets") / "downloads" / "manual"
  for folder in ([Path(given)] if given else [DEBIAN_DIR, tfds_manual]):
    if (folder / FILES["train"][0]).exists():
      return folder
  raise SystemExit(f"no Fashion-MNIST archives in {given or f'{DEBIAN_DIR} or {tfds_manual}'}; "
                   "apt-get install dataset-fashion-mnist, or pass --data_dir")


def read_idx(path: Path) -> np.ndarray:
  """An IDX file (gzip) as a uint8 array: [N, 28, 28] images or [N] labels."""
  data = gzip.decompress(path.read_bytes())
  dims = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
  return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(folder: Path, split: str, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
  """Normalised images [N, 1, 28, 28] float32 and int64 labels [N] of a split (its first `limit`, if > 0)."""
  images, labels = (read_idx(folder / name) for name in FILES[split])
  if limit:
    images, labels = images[:limit], labels[:limit]
  x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
  return (x - RECIPE["mean"]) / RECIPE["std"], torch.from_numpy(labels.astype(np.int64))


def learning_rate(step: int, steps_per_epoch: int, total_steps: int) -> float:
  """cnnjax.train.optim.make_schedule's warmup + cosine for this recipe: optax.join_schedules of
  linear_schedule(0, lr, warmup) and cosine_decay_schedule(lr, total - warmup), at the update's step count."""
  base = RECIPE["learning_rate"]
  warmup = int(round(RECIPE["warmup_epochs"] * steps_per_epoch))
  if step < warmup:
    return base * step / warmup
  decay_steps = max(1, total_steps - warmup)
  return base * 0.5 * (1 + math.cos(math.pi * min(step - warmup, decay_steps) / decay_steps))


def make_optimizer(model, steps_per_epoch: int, total_steps: int):
  """The recipe's SGD (torch_reference.make_optimizer: decay on ndim > 1 only) and its per-step LambdaLR, stepped
  after each update, so update i runs at learning_rate(i)."""
  optimizer = torch_reference.make_optimizer(model, RECIPE["learning_rate"], RECIPE["momentum"],
                                             RECIPE["weight_decay"], nesterov=RECIPE["nesterov"])
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda s: learning_rate(s, steps_per_epoch, total_steps) / RECIPE["learning_rate"])
  return optimizer, scheduler


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
  """Zero-pad by 2 and crop 28x28 at a random offset, then a random left-right flip, per example, on the batch
  (cnnjax applies config.augment's crop and flip in the order of their names)."""
  n, c, h, w = x.shape
  pad = RECIPE["crop_padding"]
  padded = F.pad(x, (pad, pad, pad, pad))
  offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
  rows = (offsets[:, 0, None] + torch.arange(h))[:, None, :, None]
  cols = (offsets[:, 1, None] + torch.arange(w))[:, None, None, :]
  x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
  flip = torch.rand(n, generator=generator) < RECIPE["flip_probability"]
  return torch.where(flip[:, None, None, None], x.flip(3), x)


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, memory_format) -> float:
  """Top-1 accuracy over every test image, in batches of eval_batch_size, batch norm in inference mode."""
  model.eval()
  correct = 0
  with torch.inference_mode():
    for start in range(0, len(images), RECIPE["eval_batch_size"]):
      x = images[start:start + RECIPE["eval_batch_size"]].contiguous(memory_format=memory_format)
      correct += int((model(x).argmax(1) == labels[start:start + len(x)]).sum())
  model.train()
  return correct / len(images)


def train(args) -> list[dict]:
  """The whole run; returns the evaluation records it printed."""
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  torch.manual_seed(args.seed)
  generator = torch.Generator().manual_seed(args.seed)  # data order and augmentation
  folder = archive_dir(args.data_dir)
  train_x, train_y = load_split(folder, "train", args.train_examples)
  test_x, test_y = load_split(folder, "test", args.test_examples)
  memory_format = LAYOUTS[args.layout]
  model = torch_reference.build_model(RECIPE["model"], 10, (28, 28, 1)).to(memory_format=memory_format)
  batch = RECIPE["batch_size"]
  steps_per_epoch = len(train_x) // batch
  total_steps = int(math.ceil(args.epochs * steps_per_epoch))
  optimizer, scheduler = make_optimizer(model, steps_per_epoch, total_steps)
  records, step, epoch = [], 0, 0
  model.train()
  while step < total_steps:
    order = torch.randperm(len(train_x), generator=generator)
    losses = []
    for i in range(min(steps_per_epoch, total_steps - step)):
      index = order[i * batch:(i + 1) * batch]
      x = augment(train_x[index], generator).contiguous(memory_format=memory_format)
      losses.append(torch_reference.train_step(model, optimizer, x, train_y[index]))
      scheduler.step()
      step += 1
    epoch += 1
    record = {"epoch": step / steps_per_epoch, "step": step,
              "test_accuracy": evaluate(model, test_x, test_y, memory_format),
              "train_loss": float(torch.stack(losses).mean()), "seconds_since_start": time.perf_counter() - _START}
    records.append(record)
    print(json.dumps(record), flush=True)
  return records


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--epochs", type=float, default=RECIPE["num_epochs"])
  parser.add_argument("--train_examples", type=int, default=0, help="the first N training images (0: all 60,000)")
  parser.add_argument("--test_examples", type=int, default=0, help="the first N test images (0: all 10,000)")
  parser.add_argument("--layout", choices=sorted(LAYOUTS), default="channels_last")
  parser.add_argument("--data_dir", default=None, help="folder of the IDX .gz archives (default: Debian's)")
  parser.add_argument("--out", default=None, help="also write the evaluations and settings here as JSON")
  args = parser.parse_args(argv)
  records = train(args)
  if args.out:
    Path(args.out).write_text(json.dumps({"recipe": RECIPE, "args": vars(args), "threads": torch.get_num_threads(),
                                          "torch": torch.__version__, "evaluations": records}, indent=2) + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
