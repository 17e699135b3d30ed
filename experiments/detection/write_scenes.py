"""Writes test scenes of fashion_scenes (plain and cluttered) as PNGs, for `cnnjax detect` examples.

    PYTHONPATH=. .venv/bin/python experiments/detection/write_scenes.py OUT_DIR INDEX [INDEX ...]

OUT_DIR/plain_INDEX.png (grey) and OUT_DIR/cluttered_INDEX.png (RGB): the same garments, test split.
"""

import sys
from pathlib import Path

import tensorflow_datasets as tfds
from PIL import Image

from cnnjax.data import sources


def main(out: str, indices: list[int]) -> None:
  Path(out).mkdir(parents=True, exist_ok=True)
  for variant, name in (("plain", "fashion_scenes"), ("cluttered", "fashion_scenes/cluttered")):
    scenes = list(tfds.as_numpy(sources.get_builder(name).as_dataset(split=f"test[:{max(indices) + 1}]",
                                                                       shuffle_files=False)))
    for i in indices:
      image = scenes[i]["image"]
      Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(Path(out) / f"{variant}_{i}.png")


if __name__ == "__main__":
  main(sys.argv[1], [int(i) for i in sys.argv[2:]])
