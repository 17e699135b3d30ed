"""The issue's done-when: torchvision ResNet-18 .pth -> `cnnjax convert` -> `cnnjax predict --json` gives
torchvision's own top-5 on a photo (probabilities within 1e-3), and both exports reload outside cnnjax
(tf.saved_model.load, jax.export.deserialize) with the same logits.

The ResNet-18 has random weights (nothing is downloaded) with its fc layer scaled by 4, so the top-5
is spread out yet clearly ordered; the test checks that margin before comparing.
"""

import contextlib
import io
import json

import numpy as np
import pytest

from cnnjax import main

FC_SCALE = 4.0


def _cnnjax(*argv: str) -> str:
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert main.main(["cnnjax", *argv]) == 0
  return out.getvalue()


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
  """(folder, photo path, torchvision logits [1000], converted weights directory)."""
  import torch
  from PIL import Image
  from sklearn.datasets import load_sample_image

  from cnnjax.weights.torch_shim import import_torchvision
  tv = import_torchvision()
  folder = tmp_path_factory.mktemp("imagenet_flow")
  photo = folder / "china.jpg"
  Image.fromarray(load_sample_image("china.jpg")).save(photo, quality=90)  # 640 x 427, not square
  torch.manual_seed(0)
  reference = tv.models.resnet18().eval()
  with torch.no_grad():
    reference.fc.weight.mul_(FC_SCALE)
  torch.save(reference.state_dict(), folder / "resnet18.pth")
  transform = tv.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
  with torch.no_grad():
    logits = reference(transform(Image.open(photo).convert("RGB"))[None])[0].numpy()
  _cnnjax("convert", "--from", "torchvision", "--model", "resnet18", "--weights", str(folder / "resnet18.pth"),
          "--out", str(folder / "weights"))
  return folder, photo, logits, folder / "weights"


def _softmax(logits):
  e = np.exp(logits - logits.max())
  return e / e.sum()


def test_predict_gives_torchvisions_top5(flow):
  from torchvision.models._meta import _IMAGENET_CATEGORIES
  _, photo, logits, weights = flow
  order = np.argsort(-logits)
  assert logits[order[4]] - logits[order[5]] > 0.1 and np.diff(logits[order[:5]]).max() < -0.1  # well separated
  found = json.loads(_cnnjax("predict", str(photo), "--weights", str(weights), "--top", "5", "--json"))
  (image,) = found["images"]
  assert image["image"] == str(photo)
  assert image["indices"] == order[:5].tolist()
  assert image["names"] == [_IMAGENET_CATEGORIES[i] for i in order[:5]]
  np.testing.assert_allclose(image["probabilities"], _softmax(logits)[order[:5]], rtol=0, atol=1e-3)
  assert image["probabilities"][0] > 0.5  # the comparison is not among near-zero numbers


def _preprocessed(photo, weights):
  from cnnjax.commands.image_input import read_image
  from cnnjax.serving.load import from_weights
  from cnnjax.serving.predict import logits
  served = from_weights(str(weights))
  x = served.preprocess(read_image(str(photo))[0])[None]
  return x, logits(served, x)


def test_savedmodel_reloads_in_tensorflow_with_the_same_logits(flow):
  import tensorflow as tf
  folder, photo, reference_logits, weights = flow
  _cnnjax("export", "--weights", str(weights), "--format", "savedmodel", "--out", str(folder / "savedmodel"))
  x, own = _preprocessed(photo, weights)
  loaded = tf.saved_model.load(str(folder / "savedmodel"))
  batch = np.concatenate([x, -x])  # any batch size: the signature's batch is symbolic
  got = loaded.signatures["serving_default"](images=tf.constant(batch))["logits"].numpy()
  assert got.shape == (2, 1000)
  assert int(np.argmax(got[0])) == int(np.argmax(reference_logits))
  np.testing.assert_allclose(got[:1], own, rtol=0, atol=1e-4 * np.abs(own).max())
  meta = json.loads((folder / "savedmodel" / "serving.json").read_text())
  assert meta["input_shape"] == [None, 224, 224, 3] and meta["preprocessing"] == "imagenet_eval"
  assert meta["platforms"] == ["cpu", "cuda"] and meta["class_names"][0] == "tench"


def test_stablehlo_reloads_with_jax_export_and_the_same_logits(flow):
  from jax import export
  folder, photo, _, weights = flow
  _cnnjax("export", "--weights", str(weights), "--format", "stablehlo", "--out", str(folder / "stablehlo"))
  x, own = _preprocessed(photo, weights)
  exported = export.deserialize((folder / "stablehlo" / "model.jax_export").read_bytes())
  assert exported.platforms == ("cpu", "cuda")  # lowered for both, whichever machine exported it
  got = np.asarray(exported.call(np.concatenate([x, x, -x])))
  assert got.shape == (3, 1000)
  np.testing.assert_allclose(got[:2], np.concatenate([own, own]), rtol=0, atol=1e-5 * np.abs(own).max())


def test_outputs_are_never_overwritten(flow):
  from cnnjax.errors import InputError
  folder, _, _, weights = flow
  before = sorted(p.name for p in weights.iterdir())
  with pytest.raises(InputError, match="already exists and is not empty"):
    main.main(["cnnjax", "--debug", "convert", "--from", "torchvision", "--model", "resnet18", "--weights",
               str(folder / "resnet18.pth"), "--out", str(weights)])
  with pytest.raises(InputError, match="already exists and is not empty"):
    main.main(["cnnjax", "--debug", "export", "--weights", str(weights), "--format", "stablehlo", "--out",
               str(weights)])
  assert sorted(p.name for p in weights.iterdir()) == before
