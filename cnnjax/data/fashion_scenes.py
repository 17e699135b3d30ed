"""Fashion-MNIST scenes: a real segmentation dataset composed offline from Fashion-MNIST garments.

Why: the lecture's pixel-labelling networks need dense labels, and no segmentation dataset can be
downloaded here. Each scene puts 2-4 real Fashion-MNIST images at random positions on a dark
canvas; a pixel is labelled with its garment's class + 1 where that garment is foreground
(intensity >= FOREGROUND_THRESHOLD) and 0 (background) elsewhere; later garments occlude earlier
ones. Scenes are a pure function of (seed, split): train scenes use Fashion-MNIST train images,
test scenes Fashion-MNIST test images, so no garment appears in both.

Each placed garment also gets a box and its class (detection): the tight box of *all* its foreground
pixels in canvas coordinates, whether or not a later garment occludes part of them. Occlusion stays
small: a later garment's 28x28 window covers at most SceneSpec.max_overlap (20%) of an earlier one's; on
the test split later garments hide 1.1% of a garment's foreground on average, 7.5% at the 95th percentile
and 36% at most (experiments/fashion_scenes_check.py).

Two tfds configs (version 3.0.0): `plain` (the default; the 2.0.0 scenes, byte for byte, plus boxes) and
`cluttered`: the same garments at the same places, their foreground pixels pasted grey (R = G = B) on
64x64 crops of natural photos (cnnjax.data.scene_backgrounds; train and test photos differ).

Features: image uint8 [S, S, 1] (plain) or [S, S, 3] (cluttered), segmentation_mask uint8 [S, S, 1] in
{0..10}, num_garments int, objects: {bbox: [n, 4] normalised (ymin, xmin, ymax, xmax), ymax/xmax the edge
after the last pixel; label: [n] garment class 0..9 (CLASS_NAMES[1:])}.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import scene_backgrounds

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
  background: str = "plain"  # a name in BACKGROUNDS: "plain" (black canvas) or "photos" (natural photos)


class Scene(NamedTuple):
  """One composed scene: image [S, S] or [S, S, 3] uint8, mask [S, S] uint8 (class + 1 on garments), the number
  of garments placed, and their boxes [n, 4] float32 (normalised ymin, xmin, ymax, xmax) and classes [n] int64."""

  image: np.ndarray
  mask: np.ndarray
  num_garments: int
  boxes: np.ndarray
  classes: np.ndarray


def _box_overlap(a: tuple[int, int], b: tuple[int, int], size: int) -> float:
  dy = max(0, size - abs(a[0] - b[0]))
  dx = max(0, size - abs(a[1] - b[1]))
  return dy * dx / (size * size)


def tight_box(foreground: np.ndarray, pos: tuple[int, int], canvas: int) -> np.ndarray | None:
  """Normalised (ymin, xmin, ymax, xmax) of the True pixels of `foreground` placed at `pos`, ymax/xmax the edge
  after the last pixel ((last index + 1) / canvas); None when there are none."""
  rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
  if not len(rows):
    return None
  box = (pos[0] + rows[0], pos[1] + cols[0], pos[0] + rows[-1] + 1, pos[1] + cols[-1] + 1)
  return np.asarray(box, np.float32) / canvas


def compose_scene(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
                  spec: SceneSpec, background: np.ndarray | None = None) -> Scene:
  """One scene from garment pool `images` [M, 28, 28] uint8 with classes `labels` [M].

  Positions are drawn until every box overlaps each earlier one by at most spec.max_overlap;
  a garment that finds no such place within 100 draws is left out. `background` (uint8 [S, S, 3]) gets the
  garments' foreground pixels pasted grey; None gives the plain black canvas [S, S]. The draws from `rng` do
  not depend on the background. A garment without foreground pixels is placed but gets no box.
  """
  size = images.shape[1]
  if spec.canvas < size:
    raise ValueError(f"SceneSpec.canvas={spec.canvas} is smaller than a {size}x{size} garment; use canvas >= {size}")
  canvas = np.zeros((spec.canvas, spec.canvas), np.uint8)
  mask = np.zeros((spec.canvas, spec.canvas), np.uint8)
  count = rng.integers(spec.min_garments, spec.max_garments + 1)
  placed: list[tuple[int, int]] = []
  boxes, classes = [], []
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
    box = tight_box(fg, pos, spec.canvas)
    if box is not None:
      boxes.append(box)
      classes.append(labels[index])
  if background is not None:
    canvas = np.where((mask > 0)[..., None], canvas[..., None], background).astype(np.uint8)
  return Scene(canvas, mask, len(placed), np.asarray(boxes, np.float32).reshape(-1, 4),
               np.asarray(classes, np.int64))


def _no_backgrounds(spec: SceneSpec, split_index: int) -> Callable[[], None]:
  return lambda: None


def _photo_backgrounds(spec: SceneSpec, split_index: int) -> Callable[[], np.ndarray]:
  """Crops of split_index's photos, drawn from their own stream so the garments' draws stay the plain ones."""
  photos = scene_backgrounds.load_photos(split_index)
  rng = np.random.default_rng([spec.seed, split_index, 1])
  return lambda: scene_backgrounds.random_background(rng, photos, spec.canvas)


# SceneSpec.background -> (spec, split_index) -> a function giving each scene's background (or None).
BACKGROUNDS: Mapping[str, Callable[[SceneSpec, int], Callable[[], np.ndarray | None]]] = {
    "plain": _no_backgrounds,
    "photos": _photo_backgrounds,
}


def compose_split(images: np.ndarray, labels: np.ndarray, num_scenes: int, spec: SceneSpec,
                  split_index: int):
  """Yields (key, example) for `num_scenes` scenes; deterministic in (spec.seed, split_index).

  split_index 0 is the train split, 1 the test split (photo backgrounds are cut from that split's photos).
  Example: image [S, S, 1] (plain) or [S, S, 3] (photos), segmentation_mask [S, S, 1], num_garments,
  objects {"bbox": float32 [n, 4], "label": int64 [n]}.
  """
  if spec.background not in BACKGROUNDS:
    raise ValueError(f"SceneSpec.background={spec.background!r} is unknown; use one of {sorted(BACKGROUNDS)}")
  rng = np.random.default_rng([spec.seed, split_index])
  next_background = BACKGROUNDS[spec.background](spec, split_index)
  for i in range(num_scenes):
    scene = compose_scene(rng, images, labels, spec, next_background())
    image = scene.image if scene.image.ndim == 3 else scene.image[..., None]
    yield i, {"image": image, "segmentation_mask": scene.mask[..., None], "num_garments": scene.num_garments,
              "objects": {"bbox": scene.boxes, "label": scene.classes}}


def _load_fashion_mnist(split: str, data_dir: str | None):
  from cnnjax.data import sources  # the offline Fashion-MNIST preparation lives there
  builder = sources.get_builder("fashion_mnist", data_dir)
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  return data["image"][..., 0], data["label"]


@dataclasses.dataclass
class SceneConfig(tfds.core.BuilderConfig):
  """A tfds config of the scenes: which SceneSpec.background they are composed on."""

  background: str = "plain"


class FashionScenes(tfds.core.GeneratorBasedBuilder):
  """tfds builder of the composed scenes; prepared offline from the prepared `fashion_mnist`.

  `fashion_scenes` (or `fashion_scenes/plain`) are the black-canvas scenes, `fashion_scenes/cluttered` the
  same garments on photo crops; each is stored under fashion_scenes/<config>/<version>/ in the data dir.
  """

  VERSION = tfds.core.Version("3.0.0")
  RELEASE_NOTES = {"1.0.0": "64x64 canvas, 2-4 garments, 4000 train / 1000 test scenes.",
                   "2.0.0": "20000 train / 2000 test scenes, so the train scenes use about all 60k "
                            "training garments once instead of a fifth of them.",
                   "3.0.0": "Per-garment boxes and classes (objects: bbox + label); configs `plain` (the default, "
                            "the 2.0.0 images and masks unchanged) and `cluttered` (the same garments pasted grey "
                            "on 3-channel crops of natural photos; train and test photos differ)."}
  BUILDER_CONFIGS = [
      SceneConfig(name="plain", background="plain",
                  description="Garments on a black canvas; 1-channel images, as version 2.0.0."),
      SceneConfig(name="cluttered", background="photos",
                  description="The plain scenes' garments pasted grey on RGB crops of natural photos."),
  ]
  SPEC = SceneSpec()

  @property
  def spec(self) -> SceneSpec:
    return dataclasses.replace(self.SPEC, background=self.builder_config.background)

  def _info(self) -> tfds.core.DatasetInfo:
    s = self.SPEC.canvas
    channels = 1 if self.builder_config.background == "plain" else 3
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(s, s, channels)),
            "segmentation_mask": tfds.features.Image(shape=(s, s, 1)),
            "num_garments": tfds.features.Scalar(np.int32),
            "objects": tfds.features.Sequence({
                "bbox": tfds.features.BBoxFeature(),
                "label": tfds.features.ClassLabel(names=CLASS_NAMES[1:]),
            }),
        }),
        supervised_keys=("image", "segmentation_mask"),
    )

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples("train", self.SPEC.num_train, 0),
            "test": self._generate_examples("test", self.SPEC.num_test, 1)}

  def _generate_examples(self, source_split: str, num_scenes: int, split_index: int):
    images, labels = _load_fashion_mnist(source_split, str(self.data_dir_root))
    yield from compose_split(images, labels, num_scenes, self.spec, split_index)
