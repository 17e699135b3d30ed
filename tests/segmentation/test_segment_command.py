"""`cnnjax segment`: classical methods and a trained model's workdir produce an overlay PNG and a count."""

import json

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from cnnjax import main
from cnnjax.models import get_model
from cnnjax.train.checkpoint import Checkpointer
from cnnjax.train.config import default_config
from cnnjax.train.state import TrainState


def numpy_variables(model, x, seed=0):
  """The model's variables filled by numpy: JAX's random initialisers take tens of seconds to compile here."""
  import jax
  rng = np.random.default_rng(seed)
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
  return jax.tree.map(lambda leaf: jnp.asarray(rng.normal(0.0, 0.3, leaf.shape), leaf.dtype), abstract)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  skimage_data = pytest.importorskip("skimage.data", reason="a real photo from scikit-image")
  path = tmp_path_factory.mktemp("photo") / "coffee.png"
  Image.fromarray(skimage_data.coffee()[::4, ::4]).save(path)
  return path


@pytest.mark.parametrize("method", ["kmeans", "slic", "felzenszwalb", "watershed", "meanshift"])
def test_classical_methods_write_an_overlay(photo, tmp_path, capsys, method):
  out = tmp_path / "overlay.png"
  assert main.main(["cnnjax", "segment", str(photo), "--method", method, "--out", str(out), "--k", "5",
                    "--n_segments", "50", "--markers", "40"]) == 0
  printed = capsys.readouterr().out
  count = int(printed.split(f"{method}: ")[1].split(" segments")[0])
  assert count >= 2
  picture = np.asarray(Image.open(out))
  assert picture.ndim == 3 and picture.shape[-1] == 3


def test_trained_model_workdir(tmp_path, capsys):
  """A workdir with config.json and a checkpoint (here of an untrained padded U-Net) segments a scene."""
  config = default_config()
  config.task, config.model, config.dataset.num_classes = "segmentation", "unet_padded", 3
  config.model_kwargs.features, config.model_kwargs.depth = 2, 2
  (tmp_path / "config.json").write_text(config.to_json_best_effort())
  model = get_model("unet_padded", num_classes=3, features=2, depth=2)
  variables = numpy_variables(model, jnp.zeros((1, 32, 32, 1)))
  state = TrainState.create(apply_fn=model.apply, params=variables["params"], tx=optax.sgd(0.1), batch_stats={})
  checkpointer = Checkpointer(tmp_path)
  checkpointer.save(state)
  checkpointer.wait()
  scene = tmp_path / "scene.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(scene)
  out = tmp_path / "overlay.png"
  assert main.main(["cnnjax", "segment", str(scene), "--workdir", str(tmp_path), "--out", str(out)]) == 0
  assert "unet_padded:" in capsys.readouterr().out
  assert np.asarray(Image.open(out)).shape[-1] == 3


def test_an_unpadded_prediction_is_shown_on_the_image_centre(tmp_path, monkeypatch):
  """An unpadded U-Net labels the centre of its input; the picture under the overlay is cut to that centre."""
  from cnnjax.commands import segment
  pixels = np.random.default_rng(1).integers(0, 255, (12, 10, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "scene.png")
  monkeypatch.setattr(segment, "load_trained", lambda workdir: (None, None, {"dataset": {"mean": [0.5] * 3}}))
  monkeypatch.setattr(segment, "predict", lambda model, variables, ds, batch: np.zeros((1, 6, 4), np.int64))
  image, labels, _, _ = segment.segment_with_model(str(tmp_path / "scene.png"), "run", max_side=400)
  assert labels.shape == (6, 4)
  np.testing.assert_array_equal(image, pixels[3:9, 3:7])


def test_errors_name_the_fix(tmp_path, capsys):
  assert main.main(["cnnjax", "segment", "missing.png", "--method", "slic"]) == 2
  assert "does not exist" in capsys.readouterr().err
  (tmp_path / "config.json").write_text(json.dumps({"task": "classification"}))
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
  assert main.main(["cnnjax", "segment", str(tmp_path / "x.png"), "--workdir", str(tmp_path)]) == 2
  assert "segmentation run" in capsys.readouterr().err


def test_a_large_image_is_shrunk_with_a_note_and_16_bit_needs_to_8bit(tmp_path, capsys):
  from tests.commands.test_bad_inputs import write_png
  wide = tmp_path / "wide.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (150, 600, 3), dtype=np.uint8)).save(wide)
  out = tmp_path / "overlay.png"
  assert main.main(["cnnjax", "segment", str(wide), "--method", "felzenszwalb", "--max_side", "100",
                    "--out", str(out)]) == 0
  captured = capsys.readouterr()
  assert "on 100x25 pixels" in captured.out
  assert captured.err == f"cnnjax segment: note: {wide} is 600x150; segmenting it at 100x25 (--max_side 100)\n"
  deep = tmp_path / "deep.png"
  write_png(deep, np.random.default_rng(0).integers(0, 65536, (20, 20)), bits=16)
  assert main.main(["cnnjax", "segment", str(deep), "--method", "felzenszwalb", "--out", str(out)]) == 2
  assert "--to_8bit" in capsys.readouterr().err
  assert main.main(["cnnjax", "segment", str(deep), "--method", "felzenszwalb", "--out", str(out), "--to_8bit"]) == 0
