"""Selective-search region proposals for every image of a split, computed once and kept beside the dataset.

Why: R-CNN classifies proposals, and selective search (cnnjax.segmentation.selective_search) is a
sequential CPU algorithm far slower than a training step; like the paper, proposals are computed offline,
once per (dataset version, split, mode, count), and read back as a [num_examples, count, 4] array in the
split's order (boxes [x0, y0, x1, y1] in the stored image's pixels, best-ranked first, zero rows padding).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODES = ("single", "fast", "quality")


def cache_path(builder, split: str, mode: str, count: int) -> Path:
  """Where the proposals of `split` live: beside the prepared dataset (its version's folder)."""
  safe = "".join(ch if ch.isalnum() else "_" for ch in split)
  return Path(builder.data_dir) / "proposals" / f"selective_search_{mode}_{count}" / f"{safe}.npy"


def pad_proposals(boxes: np.ndarray, count: int) -> np.ndarray:
  """The first `count` proposals of [K, 4] as float32 [count, 4], zero rows after the last one."""
  out = np.zeros((count, 4), np.float32)
  boxes = np.asarray(boxes, np.float32)[:count]
  out[:len(boxes)] = boxes
  return out


def compute(images, mode: str, count: int, seed: int = 0) -> np.ndarray:
  """[n, count, 4] proposals of an iterable of n uint8 images (selective search in `mode`)."""
  from cnnjax.segmentation.selective_search import selective_search
  return np.stack([pad_proposals(selective_search(image, mode=mode, seed=seed), count) for image in images])


def split_proposals(builder, split: str, mode: str, count: int, image_key: str = "image") -> np.ndarray:
  """The proposals of every example of `split` in tfds order, computed on first use and cached (atomically).

  A cache that cannot be written (a read-only data dir, tfds.testing.mock_data's fake folders) is skipped:
  the proposals are then recomputed by each run.
  """
  import tensorflow_datasets as tfds  # here: config checks read MODES where tfds must not load (cnnjax scale)
  path = cache_path(builder, split, mode, count)
  if path.exists():
    cached = np.load(path)
    if cached.ndim == 3 and cached.shape[1:] == (count, 4):
      return cached
  ds = builder.as_dataset(split=split, shuffle_files=False,
                          read_config=tfds.ReadConfig(shuffle_seed=0, interleave_cycle_length=1))
  start = time.perf_counter()
  print(f"computing selective-search proposals ({mode}, {count} per image) for {builder.name} {split}; "
        f"cached in {path}", file=sys.stderr, flush=True)
  proposals = compute((example[image_key] for example in tfds.as_numpy(ds)), mode, count)
  print(f"  {len(proposals)} images in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as f:
      np.save(f, proposals)
    os.replace(f.name, path)
  except OSError:
    pass
  return proposals
