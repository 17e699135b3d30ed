#!/usr/bin/env bash
# The recorded detection runs and their `cnnjax detect` examples: each run is trained into
# results/detection/NAME with its final checkpoint (so `cnnjax detect --workdir` serves it), test scenes are
# written as PNGs, each detector draws its boxes on them, and the detection speed is measured.
#   scripts/detection_examples.sh [PYTHON]   (default .venv/bin/python; a run whose results.json exists is kept)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-.venv/bin/python}"
for name in fashion_scenes_centernet fashion_scenes_cluttered_centernet fashion_scenes_rcnn; do
  run=results/detection/$name
  if [ ! -f "$run/results.json" ]; then
    PYTHONPATH=. "$python" -m cnnjax train --config "configs/$name.py" --workdir "$run" --config.keep_checkpoints=1
    rm -rf "$run/run.lock" "$run/tensorboard"
  fi
done
mkdir -p results/detection/scenes results/detection/detections
PYTHONPATH=. "$python" experiments/detection/write_scenes.py results/detection/scenes 0 1 2
for name in fashion_scenes_centernet fashion_scenes_cluttered_centernet fashion_scenes_rcnn; do
  variant=plain; [[ $name == *cluttered* ]] && variant=cluttered
  for image in results/detection/scenes/${variant}_*.png; do
    scene=$(basename "$image" .png)
    PYTHONPATH=. "$python" -m cnnjax detect "$image" --workdir "results/detection/$name" \
      --out "results/detection/detections/${name}_${scene#${variant}_}.png" --json > \
      "results/detection/detections/${name}_${scene#${variant}_}.json"
  done
done
PYTHONPATH=. "$python" experiments/detection/detector_speed.py
PYTHONPATH=. "$python" scripts/update_readme.py
