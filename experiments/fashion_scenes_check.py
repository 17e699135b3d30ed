"""Prepares fashion_scenes 3.0.0 (plain and cluttered) offline, times it, and checks what the docstring promises.

    PYTHONPATH=. python experiments/fashion_scenes_check.py --data_dir /tmp/scenes_tfds \
        --v2_dir ~/tensorflow_datasets/fashion_scenes/2.0.0

The data dir needs fashion_mnist (prepared or preparable offline). Prints: preparation seconds and sizes per
config; whether the plain test scenes equal a prepared 2.0.0 copy (image, mask, count) and the cluttered ones
share their masks and boxes; objects per scene; and how much of each garment's foreground later garments hide
(the boxes cover all of it), from a replay of the test split's placements checked against the stored boxes.
"""

import argparse
import time

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import fashion_scenes, sources


def prepare(data_dir: str) -> dict:
  builders = {}
  for name in ("fashion_scenes", "fashion_scenes/cluttered"):
    start = time.time()
    builders[name] = sources.get_builder(name, data_dir)
    splits = {k: v.num_examples for k, v in builders[name].info.splits.items()}
    print(f"{name}: {builders[name].data_dir} {splits}, ready in {time.time() - start:.1f} s")
  return builders


def compare(builders: dict, v2_dir: str | None) -> list:
  plain = list(tfds.as_numpy(builders["fashion_scenes"].as_dataset(split="test")))
  cluttered = tfds.as_numpy(builders["fashion_scenes/cluttered"].as_dataset(split="test"))
  for p, c in zip(plain, cluttered, strict=True):
    assert np.array_equal(p["segmentation_mask"], c["segmentation_mask"])
    assert np.array_equal(p["objects"]["bbox"], c["objects"]["bbox"])
  print(f"cluttered test scenes share masks and boxes with the plain ones: {len(plain)}")
  if v2_dir:
    old = tfds.as_numpy(tfds.builder_from_directory(v2_dir).as_dataset(split="test"))
    for o, p in zip(old, plain, strict=True):
      assert np.array_equal(o["image"], p["image"]) and np.array_equal(o["segmentation_mask"], p["segmentation_mask"])
      assert o["num_garments"] == p["num_garments"]
    print(f"plain test scenes identical to 2.0.0 (image, mask, num_garments): {len(plain)}")
  print("objects per test scene (count of scenes with 0, 1, 2, ...):",
        np.bincount([len(ex["objects"]["label"]) for ex in plain]).tolist())
  return plain


def occlusion(data_dir: str, plain: list) -> None:
  """Replays compose_scene's draws for the test split, keeping each garment's own foreground."""
  images, labels = fashion_scenes._load_fashion_mnist("test", data_dir)
  spec, size = fashion_scenes.SceneSpec(), images.shape[1]
  rng = np.random.default_rng([spec.seed, 1])
  stored = {ex["image"].tobytes(): ex["objects"]["bbox"] for ex in plain}
  hidden, area_kept = [], []
  for _ in range(spec.num_test):
    owner, own, placed = np.full((spec.canvas,) * 2, -1), [], []
    canvas = np.zeros((spec.canvas,) * 2, np.uint8)
    for index in rng.integers(0, len(images), rng.integers(spec.min_garments, spec.max_garments + 1)):
      for _ in range(100):
        pos = tuple(int(p) for p in rng.integers(0, spec.canvas - size + 1, 2))
        if all(fashion_scenes._box_overlap(pos, q, size) <= spec.max_overlap for q in placed):
          break
      else:
        continue
      placed.append(pos)
      fg = np.zeros_like(owner, bool)
      fg[pos[0]:pos[0] + size, pos[1]:pos[1] + size] = images[index] >= fashion_scenes.FOREGROUND_THRESHOLD
      canvas[fg] = images[index][fg[pos[0]:pos[0] + size, pos[1]:pos[1] + size]]
      owner[fg] = len(own)
      own.append(fg)
    boxes = [fashion_scenes.tight_box(fg, (0, 0), spec.canvas) for fg in own]
    assert np.array_equal(np.stack(boxes), stored[canvas[..., None].tobytes()]), "replay drifted from compose_scene"
    for k, fg in enumerate(own):
      visible = owner == k
      hidden.append(1 - visible.sum() / fg.sum())
      area = lambda b: np.prod(b[2:] - b[:2])
      box, visible_box = fashion_scenes.tight_box(fg, (0, 0), 1), fashion_scenes.tight_box(visible, (0, 0), 1)
      area_kept.append(area(visible_box) / area(box))
  hidden, area_kept = np.asarray(hidden), np.asarray(area_kept)
  print(f"test garments {len(hidden)}: hidden foreground fraction mean {hidden.mean():.4f}, "
        f"95th percentile {np.percentile(hidden, 95):.4f}, max {hidden.max():.4f}; area of the visible pixels' "
        f"tight box / the box's: mean {area_kept.mean():.4f}, below 0.9 for {np.mean(area_kept < 0.9):.2%}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--v2_dir", default=None, help="a prepared fashion_scenes/2.0.0 folder to compare with")
  args = parser.parse_args()
  builders = prepare(args.data_dir)
  occlusion(args.data_dir, compare(builders, args.v2_dir))


if __name__ == "__main__":
  main()
