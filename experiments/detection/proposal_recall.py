"""Proposal recall and MABO against ground-truth garment boxes on the Fashion-MNIST detection scenes.

    PYTHONPATH=. python experiments/detection/proposal_recall.py

200 test scenes each of the plain (grey garments on black) and cluttered (garments on crops of the offline
photos) variants of cnnjax.data.fashion_scenes, garments from Fashion-MNIST's test images. For cnnjax's and
OpenCV's selective search, fast and quality: recall at IoU 0.5 and 0.7 and MABO (mean over ground-truth
boxes of the best IoU) of the first n proposals, n on a log range, and the seconds per 64x64 scene.
Writes results/detection/proposals/{recall.json,recall.png} and the README.md beside them.
"""

import itertools
import json

import numpy as np

from experiments.detection.proposal_metrics import OUT, SIDES, best_overlaps, recall_curve, write_readme

COMMAND = "PYTHONPATH=. python experiments/detection/proposal_recall.py"
NUM_SCENES = 200
COUNTS = [1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000]
TABLE_N = [3, 10, 30, 100]
BACKGROUNDS = {"plain": "black", "cluttered": "photos"}
RUNS = [("cnnjax", "fast"), ("opencv", "fast"), ("cnnjax", "quality"), ("opencv", "quality")]


def garment_pool() -> tuple[np.ndarray, np.ndarray]:
  """Fashion-MNIST's test images [M, 28, 28] and classes [M], from the prepared tfds dataset."""
  import tensorflow_datasets as tfds

  from cnnjax.data import sources
  data = tfds.as_numpy(sources.get_builder("fashion_mnist").as_dataset(split="test", batch_size=-1))
  return data["image"][..., 0], data["label"]


def scenes(variant: str, count: int = NUM_SCENES) -> list[tuple[np.ndarray, np.ndarray]]:
  """(image [S, S, C] uint8, ground-truth boxes [n, 4] in pixels) of the first `count` test scenes of `variant`."""
  from cnnjax.data import fashion_scenes
  spec = fashion_scenes.SceneSpec() if variant == "plain" else fashion_scenes.SceneSpec(background="photos")
  images, labels = garment_pool()
  out = []
  for _, example in itertools.islice(fashion_scenes.compose_split(images, labels, count, spec, 1), count):
    image = np.asarray(example["image"])
    h, w = image.shape[:2]
    ymin, xmin, ymax, xmax = np.asarray(example["objects"]["bbox"], np.float64).reshape(-1, 4).T
    out.append((image, np.stack([xmin * w, ymin * h, xmax * w, ymax * h], 1)))
  return out


def measure(data: list, side: str, mode: str) -> dict:
  """One curve: the side's proposals on every scene, timed, scored against the ground truth."""
  overlaps, counts, seconds = [], [], []
  for image, truth in data:
    boxes, took = SIDES[side](image, mode)
    overlaps.append(best_overlaps(truth, boxes))
    counts.append(len(boxes))
    seconds.append(took)
  return {"side": side, "mode": mode, "boxes_per_scene": float(np.mean(counts)),
          "seconds_per_scene": float(np.mean(seconds)), **recall_curve(overlaps, COUNTS),
          "all": {k: v[0] for k, v in recall_curve(overlaps, [max(counts)]).items() if k != "n"}}


def plot(curves: dict, path) -> None:
  from matplotlib.figure import Figure
  fig = Figure(figsize=(11, 6.5), layout="constrained")
  axes = fig.subplots(len(BACKGROUNDS), 3)
  styles = {"cnnjax": "-", "opencv": "--"}
  colours = {"fast": "tab:blue", "quality": "tab:red"}
  for row, variant in enumerate(BACKGROUNDS):
    for col, (metric, title) in enumerate((("recall_0.5", "recall at IoU 0.5"), ("recall_0.7", "recall at IoU 0.7"),
                                           ("mabo", "MABO"))):
      ax = axes[row, col]
      for c in curves.values():
        if c["scenes"] == variant:
          ax.plot(c["n"], c[metric], styles[c["side"]], color=colours[c["mode"]], label=f"{c['side']} {c['mode']}")
      ax.set_xscale("log")
      ax.set_ylim(0, 1)
      ax.set_xlabel("number of proposals")
      ax.set_title(f"{variant} scenes: {title}", fontsize=9)
      ax.grid(alpha=0.3)
  axes[0, 0].legend(fontsize=8)
  fig.savefig(path, dpi=80)


def main() -> None:
  from cnnjax.train.environment import describe_environment
  OUT.mkdir(parents=True, exist_ok=True)
  curves = {}
  for variant in BACKGROUNDS:
    data = scenes(variant)
    for side, mode in RUNS:
      curves[f"{variant}/{side}/{mode}"] = {"scenes": variant, **measure(data, side, mode)}
      c = curves[f"{variant}/{side}/{mode}"]
      print(variant, side, mode, f"{c['boxes_per_scene']:.0f} boxes, {c['seconds_per_scene']:.3f} s, "
            f"MABO(all) {c['all']['mabo']:.3f}", flush=True)
  plot(curves, OUT / "recall.png")
  description = (f"{NUM_SCENES} test scenes of each variant of `cnnjax.data.fashion_scenes` (plain: grey garments "
                 "on black; cluttered: garments on crops of the offline photos), 64x64, garments from Fashion-MNIST's "
                 "test images; ground truth: the per-garment boxes. MABO here is the mean over all ground-truth boxes "
                 "of the best IoU among the first n proposals (the paper averages per class first). *all*: every "
                 "proposal of a scene.")
  results = {"command": COMMAND, "description": description, "num_scenes": NUM_SCENES, "table_n": TABLE_N,
             "figure": "recall.png", "curves": curves, "environment": describe_environment()}
  (OUT / "recall.json").write_text(json.dumps(results, indent=2) + "\n")
  write_readme()


if __name__ == "__main__":
  main()
