"""Detection scenes: tight boxes, plain scenes unchanged since 2.0.0, cluttered photo backgrounds, box batches."""

import hashlib

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnjax.data import augment, fashion_scenes, pipeline, scene_backgrounds
from cnnjax.errors import InputError
from cnnjax.train.config import default_config

# sha256 of (image, mask, num_garments) of 25 scenes from _noise_pool(), recorded from the 2.0.0 code before boxes
# and backgrounds were added (commit 5c6019c): the plain scenes' rng draws and pixels must not change.
PLAIN_HASHES = [
    (fashion_scenes.SceneSpec(), 0, "f872433c1bdd432150ae809a6f1ae1a87b4f2f810ebf3582fd4accf9c6a2b064"),
    (fashion_scenes.SceneSpec(), 1, "1d9305420db7340130eb16ec79e77acf3a563f2d71017725ab929c0f54dcd628"),
    (fashion_scenes.SceneSpec(seed=7, max_overlap=0.5, canvas=48), 0,
     "47b58183964f4657cebded9ef05b5c8f862a8b2664e35362d3e6fa1e0a8c4b67"),
]


def _noise_pool():
  """40 random 28x28 'garments' (noise, top rows black) with random classes: thresholds everywhere."""
  rng = np.random.default_rng(2024)
  images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
  images[:, :4] = 0
  return images, rng.integers(0, 10, 40)


def _blob_pool(count=30):
  """Garments with known foreground: a bright ellipse of varying size and place per image, dim noise around it."""
  rng = np.random.default_rng(1)
  rows, cols = np.mgrid[:28, :28]
  images = rng.integers(0, fashion_scenes.FOREGROUND_THRESHOLD, (count, 28, 28)).astype(np.uint8)
  for i in range(count):
    cy, cx, ry, rx = rng.uniform(9, 19), rng.uniform(9, 19), rng.uniform(3, 9), rng.uniform(3, 9)
    images[i][((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1] = 200
  return images, rng.integers(0, 10, count)


@pytest.mark.parametrize("spec,split,digest", PLAIN_HASHES)
def test_plain_scenes_are_byte_identical_to_version_2(spec, split, digest):
  images, labels = _noise_pool()
  h = hashlib.sha256()
  for _, ex in fashion_scenes.compose_split(images, labels, 25, spec, split):
    h.update(ex["image"].tobytes())
    h.update(ex["segmentation_mask"].tobytes())
    h.update(np.int64(ex["num_garments"]).tobytes())
  assert h.hexdigest() == digest


def _pixel_box(foreground: np.ndarray) -> np.ndarray:
  rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
  return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1])


def test_boxes_are_tight_around_each_garments_foreground():
  """Without overlap each garment's pixels are its class's pixels inside its box: the box is their tight box,
  and the boxes cover every foreground pixel; a lone garment's box is its foreground's."""
  images, labels = _blob_pool()
  spec = fashion_scenes.SceneSpec(max_overlap=0.0)
  scenes = [ex for _, ex in fashion_scenes.compose_split(images, labels, 10, spec, 0)]
  assert sum(ex["num_garments"] for ex in scenes) >= 15
  for ex in scenes:
    mask, objects = ex["segmentation_mask"][..., 0], ex["objects"]
    assert len(objects["label"]) == ex["num_garments"] and objects["bbox"].dtype == np.float32
    covered = np.zeros_like(mask, bool)
    for box, label in zip(objects["bbox"], objects["label"]):
      y0, x0, y1, x1 = np.round(box * 64).astype(int)
      np.testing.assert_allclose(box * 64, [y0, x0, y1, x1], atol=1e-4)
      inside = np.zeros_like(mask, bool)
      inside[y0:y1, x0:x1] = True
      np.testing.assert_array_equal(_pixel_box((mask == label + 1) & inside), [y0, x0, y1, x1])
      covered |= inside
    assert np.all(covered[mask > 0])
  alone = fashion_scenes.SceneSpec(min_garments=1, max_garments=1)
  scene = fashion_scenes.compose_scene(np.random.default_rng(4), images, labels, alone)
  np.testing.assert_array_equal(scene.boxes[0] * 64, _pixel_box(scene.mask > 0))


def test_cluttered_scenes_paste_the_plain_garments_grey_on_photos():
  images, labels = _blob_pool()
  plain = list(fashion_scenes.compose_split(images, labels, 6, fashion_scenes.SceneSpec(), 1))
  photos = fashion_scenes.SceneSpec(background="photos")
  cluttered = list(fashion_scenes.compose_split(images, labels, 6, photos, 1))
  again = list(fashion_scenes.compose_split(images, labels, 6, photos, 1))
  for (_, p), (_, c), (_, a) in zip(plain, cluttered, again):
    np.testing.assert_array_equal(c["image"], a["image"])
    assert c["image"].shape == (64, 64, 3) and c["image"].dtype == np.uint8
    np.testing.assert_array_equal(c["segmentation_mask"], p["segmentation_mask"])
    np.testing.assert_array_equal(c["objects"]["bbox"], p["objects"]["bbox"])
    np.testing.assert_array_equal(c["objects"]["label"], p["objects"]["label"])
    garment = p["segmentation_mask"][..., 0] > 0
    np.testing.assert_array_equal(c["image"][garment], np.repeat(p["image"][garment], 3, axis=1))
    background = c["image"][~garment].astype(int)
    assert np.mean(background[:, 0] != background[:, 1]) > 0.3  # colour photo, not grey
    assert background.std() > 5


def test_train_and_test_backgrounds_come_from_different_photos():
  train, test = scene_backgrounds.PHOTO_SPLITS
  assert not set(train) & set(test)
  digests = [{hashlib.sha256(p.tobytes()).hexdigest() for p in scene_backgrounds.load_photos(i)} for i in (0, 1)]
  assert len(digests[0]) == len(train) and len(digests[1]) == len(test) and not digests[0] & digests[1]


def _dataset_config(name: str, **kwargs):
  config = default_config().dataset
  config.name, config.objects_key, config.data_dir = name, "objects", kwargs.pop("data_dir")
  config.mean, config.std = (0.2,) * kwargs.get("channels", 1), (0.3,) * kwargs.pop("channels", 1)
  for key, value in kwargs.items():
    config[key] = value
  return config


@pytest.mark.parametrize("name,channels", [("fashion_scenes", 1), ("fashion_scenes/cluttered", 3)])
def test_mock_data_batches_carry_padded_boxes(tmp_path, name, channels):
  # tfds mock examples hold up to ~80 boxes and labels, in unequal numbers: the format is what is tested here.
  config = _dataset_config(name, data_dir=str(tmp_path), channels=channels, max_objects=128)
  with tfds.testing.mock_data(num_examples=5, data_dir=str(tmp_path)):
    data = pipeline.make_eval_iterator(config, "test", 4)
    batches = list(data.iterator)
    train = next(pipeline.make_train_data(config, 2, seed=0).batches())
  assert len(batches) == 2 and batches[1]["mask"].tolist() == [1, 0, 0, 0]
  for batch in (*batches, train):
    n = len(batch["image"])
    assert batch["image"].shape == (n, 64, 64, channels)
    boxes, classes = batch["label"]["boxes"], batch["label"]["classes"]
    assert boxes.shape == (n, 128, 4) and boxes.dtype == np.float32
    assert classes.shape == (n, 128) and classes.dtype == np.int32
    assert np.all(np.abs(boxes) <= 64) and np.all(classes >= -1) and np.all(classes < 10)
    assert np.all(np.diff(classes < 0, axis=1) >= 0)  # padding at the end
  assert np.all(batches[1]["label"]["classes"][1:] == -1) and np.all(batches[1]["label"]["boxes"][1:] == 0)
  with tfds.testing.mock_data(num_examples=5, data_dir=str(tmp_path)):
    config.max_objects = 4
    with pytest.raises(InputError, match="config.dataset.max_objects=4"):
      list(pipeline.make_eval_iterator(config, "test", 4).iterator)


def test_prepared_cluttered_scenes_give_pixel_boxes_after_resize(tmp_path, monkeypatch):
  """The builder prepares offline; boxes come out as (x0, y0, x1, y1) in pixels of the resized 96x96 image."""
  monkeypatch.setattr(fashion_scenes, "_load_fashion_mnist", lambda split, data_dir: _blob_pool())
  monkeypatch.setattr(fashion_scenes.FashionScenes, "SPEC", fashion_scenes.SceneSpec(num_train=4, num_test=3))
  config = _dataset_config("fashion_scenes/cluttered", data_dir=str(tmp_path), channels=3, image_size=96)
  batch = next(pipeline.make_eval_iterator(config, "test", 4).iterator)
  scenes = {ex["image"].tobytes(): ex for _, ex in fashion_scenes.compose_split(
      *_blob_pool(), 3, fashion_scenes.SceneSpec(background="photos"), 1)}
  builder = tfds.builder_from_directory(str(tmp_path / "fashion_scenes" / "cluttered" / "3.0.0"))
  for i, stored in enumerate(tfds.as_numpy(builder.as_dataset(split="test"))):
    objects = scenes[stored["image"].tobytes()]["objects"]
    n = len(objects["label"])
    np.testing.assert_allclose(batch["label"]["boxes"][i, :n], objects["bbox"][:, [1, 0, 3, 2]] * 96, atol=1e-4)
    np.testing.assert_array_equal(batch["label"]["classes"][i], [*objects["label"], *[-1] * (4 - n)])
  assert batch["image"].shape == (4, 96, 96, 3) and batch["mask"].tolist() == [1, 1, 1, 0]


def test_pad_batch_gives_padded_rows_no_objects():
  batch = {"image": np.ones((1, 2, 2, 1), np.float32),
           "label": {"boxes": np.ones((1, 3, 4), np.float32), "classes": np.array([[0, 2, -1]], np.int32)}}
  padded = pipeline.pad_batch(batch, 3)
  assert padded["label"]["classes"].tolist() == [[0, 2, -1], [-1, -1, -1], [-1, -1, -1]]
  assert np.all(padded["label"]["boxes"][1:] == 0) and padded["mask"].tolist() == [1, 0, 0]


def test_flip_moves_boxes_with_their_garments():
  """After a flip every box is still the tight box of its garment's foreground; padding rows stay untouched."""
  images, labels = _blob_pool()
  spec = fashion_scenes.SceneSpec(max_overlap=0.0)
  scenes = [ex for _, ex in fashion_scenes.compose_split(images, labels, 8, spec, 0)]
  masks = np.stack([ex["segmentation_mask"] for ex in scenes]).astype(np.float32)
  boxes = np.zeros((8, 5, 4), np.float32)
  classes = np.full((8, 5), -1, np.int32)
  for i, ex in enumerate(scenes):
    n = len(ex["objects"]["label"])
    boxes[i, :n] = ex["objects"]["bbox"][:, [1, 0, 3, 2]] * 64
    classes[i, :n] = ex["objects"]["label"]
  boxes[classes < 0] = 7.0  # padding must come back as it went in
  flipped, out = jax.jit(augment.random_flip)(jax.random.key(0), masks, {"boxes": boxes, "classes": classes})
  flipped, out_boxes = np.asarray(flipped[..., 0]), np.asarray(out["boxes"])
  was_flipped = [not np.array_equal(f, m[..., 0]) for f, m in zip(flipped, masks)]
  assert 0 < sum(was_flipped) < 8
  np.testing.assert_array_equal(out["classes"], classes)
  assert np.all(out_boxes[classes < 0] == 7.0)
  for i in range(8):
    for (x0, y0, x1, y1), label in zip(out_boxes[i], classes[i]):
      if label < 0:
        continue
      x0, y0, x1, y1 = np.round([x0, y0, x1, y1]).astype(int)
      inside = np.zeros((64, 64), bool)
      inside[y0:y1, x0:x1] = True
      np.testing.assert_array_equal(_pixel_box((flipped[i] == label + 1) & inside), [y0, x0, y1, x1])


@pytest.mark.parametrize("name", ["crop", "affine"])
def test_geometric_augmentations_that_cannot_move_boxes_refuse_them(name):
  labels = {"boxes": np.zeros((2, 3, 4), np.float32), "classes": np.zeros((2, 3), np.int32)}
  with pytest.raises(InputError, match=f"config.augment.{name}"):
    augment.AUGMENTATIONS[name](jax.random.key(0), np.zeros((2, 8, 8, 1), np.float32), labels)


def test_the_plain_name_still_means_the_plain_scenes(tmp_path):
  """Segmentation configs name "fashion_scenes": that stays the 1-channel plain config; cluttered is asked for."""
  from cnnjax.data import sources
  names = ("fashion_scenes", "fashion_scenes/cluttered")
  plain, cluttered = (sources._local_builder(name, str(tmp_path)) for name in names)
  assert plain.builder_config.name == "plain"
  assert tfds.builder("fashion_scenes", data_dir=str(tmp_path)).builder_config.name == "plain"
  assert plain.info.features["image"].shape == (64, 64, 1) and cluttered.info.features["image"].shape == (64, 64, 3)
  assert cluttered.info.features["objects"]["label"].names == list(fashion_scenes.CLASS_NAMES[1:])
  with pytest.raises(InputError, match="fashion_scenes/busy"):
    sources._local_builder("fashion_scenes/busy", str(tmp_path))
