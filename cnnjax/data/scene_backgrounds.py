"""Natural-photo backgrounds for the cluttered Fashion-MNIST scenes, cut from photos that ship offline.

Why: detectors and proposals on a black canvas only need a threshold; photos bring texture and clutter.
The photos are scikit-image's bundled colour photos and scikit-learn's two sample images (none downloads).
Train and test scenes use *different photos* (PHOTO_SPLITS): crops from disjoint regions of one photo
would still share its objects and textures (the astronaut's suit on both sides of a cut), so a test
background would be a near-copy of a training one.
"""

from collections.abc import Callable, Mapping

import numpy as np


def _skimage(name: str) -> Callable[[], np.ndarray]:
  def load():
    import skimage.data
    return getattr(skimage.data, name)()
  return load


def _motorcycle() -> np.ndarray:
  import skimage.data
  return skimage.data.stereo_motorcycle()[0]  # the left view


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
  def load():
    from sklearn.datasets import load_sample_image
    return load_sample_image(filename)
  return load


PHOTOS: Mapping[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "china": _sklearn("china.jpg"),
    "chelsea": _skimage("chelsea"),
    "motorcycle": _motorcycle,
    "flower": _sklearn("flower.jpg"),
}
# split_index (0: train scenes, 1: test scenes) -> the photos its backgrounds are cut from; disjoint.
PHOTO_SPLITS: tuple[tuple[str, ...], ...] = (
    ("astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "china"),
    ("chelsea", "motorcycle", "flower"),
)
MAX_SCALE = 4


def load_photos(split_index: int) -> list[np.ndarray]:
  """The RGB uint8 [H, W, 3] photos of split `split_index` (0 train, 1 test)."""
  if not 0 <= split_index < len(PHOTO_SPLITS):
    raise ValueError(f"split_index={split_index} has no background photos; use 0 (train) or 1 (test)")
  return [np.ascontiguousarray(PHOTOS[name]()[..., :3]) for name in PHOTO_SPLITS[split_index]]


def random_background(rng: np.random.Generator, photos: list[np.ndarray], canvas: int) -> np.ndarray:
  """A canvas x canvas x 3 uint8 crop: a random photo, a random scale k in 1..4 (a k*canvas square, averaged
  over k x k blocks, so exact in numpy and the same on every machine) and a random position."""
  photo = photos[rng.integers(len(photos))]
  height, width = photo.shape[:2]
  scale = int(rng.integers(1, max(1, min(MAX_SCALE, height // canvas, width // canvas)) + 1))
  side = scale * canvas
  top, left = (int(rng.integers(0, extent - side + 1)) for extent in (height, width))
  crop = photo[top:top + side, left:left + side].astype(np.float32)
  blocks = crop.reshape(canvas, scale, canvas, scale, 3).mean(axis=(1, 3))
  return np.round(blocks).astype(np.uint8)
