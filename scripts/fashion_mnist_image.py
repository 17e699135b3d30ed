"""Saves Fashion-MNIST test images as 8-bit PNGs, for `cnnjax explain` and `cnnjax segment` examples.

    PYTHONPATH=. python scripts/fashion_mnist_image.py OUT_DIR INDEX [INDEX ...]

Writes OUT_DIR/fashion_mnist_test_INDEX_CLASSNAME.png (28x28 grey, as stored in tfds's test split).
"""

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
  import numpy as np
  import tensorflow_datasets as tfds
  from PIL import Image
  out, indices = Path(argv[1]), sorted(int(i) for i in argv[2:])
  builder = tfds.builder("fashion_mnist")
  names = builder.info.features["label"].names
  ds = builder.as_dataset(split="test", shuffle_files=False)
  for index, example in enumerate(tfds.as_numpy(ds.take(max(indices) + 1))):
    if index in indices:
      path = out / f"fashion_mnist_test_{index}_{names[example['label']].replace('/', '_').replace(' ', '_').lower()}.png"
      Image.fromarray(np.asarray(example["image"])[..., 0]).save(path)
      print(path)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
