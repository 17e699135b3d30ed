"""Fashion-MNIST scenes: a real segmentation dataset composed offline from Fashion-MNIST garments.

Why: the lecture's pixel-labelling networks need dense labels, and no segmentation dataset can be
downloaded here. Each scene puts 2-4 real Fashion-MNIST images at random positions on a dark
canvas; a pixel is labelled with its garment's class + 1 where that garment is foreground
(intensity >= FOREGROUND_THRESHOLD) and 0 (background) elsewhere; later garments occlude earlier
ones. Scenes are a pure function of (seed, split): train scenes use Fashion-MNIST train images,
test scenes Fashion-MNIST test images, so no garment appears in both.

Features: image uint8 [S, S, 1], segmentation_mask uint8 [S, S, 1] in {0..10}, num_garments int.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

FOREGROUND_THRESHOLD = 32
CLASS_NAMES = ("background", "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
               "sneaker", "bag", "ankle boot")
NUM_CLASSES = len(CLASS_NAMES)


@dataclasses.dataclass(frozen=True)
class SceneSpec:
  """How scenes are composed: canvas size, garments per scene, allowed overlap and split sizes."""

  canvas: int = 64
  min_garments: int = 2
  max_garments: int = 4
  max_overlap: float = 0.2   # largest fraction of a garment's 28x28 box another box may cover
  num_train: int = 20000  # ~60k garment draws: about one pass over Fashion-MNIST's train split
  num_test: int = 2000
  seed: int = 0


def _box_overlap(a: tuple[int, int], b: tuple[int, int], size: int) -> float:
  dy = max(0, size - abs(a[0] - b[0]))
  dx = max(0, size - abs(a[1] - b[1]))
  return dy * dx / (size * size)


def compose_scene(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
                  spec: SceneSpec) -> tuple[np.ndarray, np.ndarray, int]:
  """One scene from garment pool `images` [M, 28, 28] uint8 with classes `labels` [M].

  Returns (image [S, S] uint8, mask [S, S] uint8 with 0 background and class + 1 on garments,
  the number of garments placed).
  Positions are drawn until every box overlaps each earlier one by at most spec.max_overlap;
  a garment that finds no such place within 100 draws is left out.
  """
  size = images.shape[1]
  if spec.canvas < size:
    raise ValueError(f"SceneSpec.canvas={spec.canvas} is smaller than a {size}x{size} garment; use canvas >= {size}")
  canvas = np.zeros((spec.canvas, spec.canvas), np.uint8)
  mask = np.zeros((spec.canvas, spec.canvas), np.uint8)
  count = rng.integers(spec.min_garments, spec.max_garments + 1)
  placed: list[tuple[int, int]] = []
  for index in rng.integers(0, len(images), count):
    for _ in range(100):
      pos = tuple(int(p) for p in rng.integers(0, spec.canvas - size + 1, 2))
      if all(_box_overlap(pos, q, size) <= spec.max_overlap for q in placed):
        break
    else:
      continue
    placed.append(pos)
    garment = images[index]
    fg = garment >= FOREGROUND_THRESHOLD
    window = (slice(pos[0], pos[0] + size), slice(pos[1], pos[1] + size))
    canvas[window] = np.where(fg, garment, canvas[window])
    mask[window] = np.where(fg, labels[index] + 1, mask[window])
  return canvas, mask, len(placed)


def compose_split(images: np.ndarray, labels: np.ndarray, num_scenes: int, spec: SceneSpec,
                  split_index: int):
  """Yields (key, example) for `num_scenes` scenes; deterministic in (spec.seed, split_index)."""
  rng = np.random.default_rng([spec.seed, split_index])
  for i in range(num_scenes):
    image, mask, count = compose_scene(rng, images, labels, spec)
    yield i, {"image": image[..., None], "segmentation_mask": mask[..., None], "num_garments": count}


def _load_fashion_mnist(split: str, data_dir: str | None):
  from cnnjax.data import sources  # the offline Fashion-MNIST preparation lives there
  builder = sources.get_builder("fashion_mnist", data_dir)
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  return data["image"][..., 0], data["label"]


class FashionScenes(tfds.core.GeneratorBasedBuilder):
  """tfds builder of the composed scenes; prepared offline from the prepared `fashion_mnist`."""

  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {"1.0.0": "64x64 canvas, 2-4 garments, 4000 train / 1000 test scenes.",
                   "2.0.0": "20000 train / 2000 test scenes, so the train scenes use about all 60k "
                            "training garments once instead of a fifth of them."}
  SPEC = SceneSpec()

  def _info(self) -> tfds.core.DatasetInfo:
    s = self.SPEC.canvas
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(s, s, 1)),
            "segmentation_mask": tfds.features.Image(shape=(s, s, 1)),
            "num_garments": tfds.features.Scalar(np.int32),
        }),
        supervised_keys=("image", "segmentation_mask"),
    )

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples("train", self.SPEC.num_train, 0),
            "test": self._generate_examples("test", self.SPEC.num_test, 1)}

  def _generate_examples(self, source_split: str, num_scenes: int, split_index: int):
    images, labels = _load_fashion_mnist(source_split, str(self.data_dir_root))
    yield from compose_split(images, labels, num_scenes, self.SPEC, split_index)
