"""Detection speed of the recorded detectors, side by side in one process, on their test scenes.

    PYTHONPATH=. .venv/bin/python experiments/detection/detector_speed.py [--images 200]

For each recorded run in results/detection (its checkpoint), one image at a time as `cnnjax detect` runs it:
seconds per image for the inputs (R-CNN: selective search) and for the network with decoding (jitted,
compiled before timing), and images/s of the two together; then the network alone on batches of 100 with
the inputs prepared. Writes results/detection/speed.json with the environment and prints a table.
"""

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import sources
from cnnjax.serving.detect import load_detector
from cnnjax.train.environment import describe_environment

REPO = Path(__file__).resolve().parents[2]
RUNS = ("fashion_scenes_centernet", "fashion_scenes_cluttered_centernet", "fashion_scenes_rcnn")


def _scenes(name: str, count: int) -> list[np.ndarray]:
  builder = sources.get_builder(name)
  return [e["image"] for e in tfds.as_numpy(builder.as_dataset(split=f"test[:{count}]", shuffle_files=False))]


def measure(run: Path, count: int, batch: int = 100) -> dict:
  detector = load_detector(str(run))
  scenes = _scenes(detector.config["dataset"]["name"], count)
  detector.detect(scenes[0])  # compiles the one-image program
  input_seconds, network_seconds, prepared = 0.0, 0.0, []
  for pixels in scenes:
    start = time.perf_counter()
    inputs, _ = detector.inputs(pixels)
    middle = time.perf_counter()
    jax.block_until_ready(detector.detect_batch(detector.variables, inputs))
    input_seconds += middle - start
    network_seconds += time.perf_counter() - middle
    prepared.append(inputs)
  batched = [{k: np.concatenate([p[k] for p in prepared[i:i + batch]]) for k in prepared[0]}
             for i in range(0, len(prepared) - batch + 1, batch)]
  jax.block_until_ready(detector.detect_batch(detector.variables, batched[0]))  # compiles the batch program
  start = time.perf_counter()
  for inputs in batched:
    jax.block_until_ready(detector.detect_batch(detector.variables, inputs))
  batched_seconds = time.perf_counter() - start
  return {"model": detector.config["model"], "images": len(scenes),
          "input_seconds_per_image": input_seconds / len(scenes),
          "network_seconds_per_image": network_seconds / len(scenes),
          "images_per_second": len(scenes) / (input_seconds + network_seconds),
          "batched_network_images_per_second": len(batched) * batch / batched_seconds}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--images", type=int, default=200)
  parser.add_argument("--out", default=str(REPO / "results" / "detection" / "speed.json"))
  args = parser.parse_args()
  runs = {name: measure(REPO / "results" / "detection" / name, args.images) for name in RUNS
          if (REPO / "results" / "detection" / name / "checkpoints").exists()}
  Path(args.out).write_text(json.dumps({"command": "PYTHONPATH=. .venv/bin/python experiments/detection/"
                                        f"detector_speed.py --images {args.images}", "runs": runs,
                                        "environment": describe_environment()}, indent=2) + "\n")
  print("| run | inputs s/image | network s/image | images/s (one at a time) | network images/s (batches of 100) |")
  print("|---|---:|---:|---:|---:|")
  for name, r in runs.items():
    print(f"| {name} | {r['input_seconds_per_image']:.4f} | {r['network_seconds_per_image']:.4f} | "
          f"{r['images_per_second']:.1f} | {r['batched_network_images_per_second']:.1f} |")


if __name__ == "__main__":
  main()
