"""`cnnjax predict --workdir` and `cnnjax export --workdir` on a tiny LeNet-5 run of configs/fashion_mnist_lenet5.py
(3 steps on tfds mock data, with an EMA of the weights): the run's own eval preprocessing, Fashion-MNIST's class
names, the EMA weights its evaluation used, and the probabilities the training pipeline's input gives."""

import contextlib
import io
import json

import numpy as np
import pytest

from cnnjax import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """(run folder, a grey photo's path) after 3 training steps."""
  import tensorflow_datasets as tfds
  from PIL import Image
  from sklearn.datasets import load_sample_image

  from cnnjax.train import config as config_lib
  from cnnjax.train import runner
  from configs.fashion_mnist_lenet5 import get_config
  folder = tmp_path_factory.mktemp("run_predict")
  config = get_config()
  config.unlock()
  for key, value in {"num_train_steps": 3, "batch_size": 8, "eval_batch_size": 8, "eval_every_epochs": 0.0,
                     "progress_bar": False, "log_every_steps": 1, "ema_decay": 0.5}.items():
    config_lib.set_dotted(config, key, value)
  with tfds.testing.mock_data(num_examples=16):
    runner.train_and_evaluate(config.lock(), folder / "run")
  photo = folder / "photo.png"
  Image.fromarray(load_sample_image("flower.jpg")[100:300, 200:350]).save(photo)  # RGB, 150 x 200
  return folder / "run", photo


def test_predict_uses_the_runs_eval_preprocessing_and_class_names(tiny_run):
  import jax
  import ml_collections
  import tensorflow as tf
  from PIL import Image

  from cnnjax.data import pipeline
  from cnnjax.lecture.training import CLASS_NAMES
  from cnnjax.serving.load import load_run
  run, photo = tiny_run
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert main.main(["cnnjax", "predict", str(photo), str(photo), "--workdir", str(run), "--top", "3",
                      "--json"]) == 0
  first, second = json.loads(out.getvalue())["images"]
  assert first == {**second, "image": str(photo)}
  model, variables, config = load_run(str(run), "classification", "test")
  from cnnjax.train.checkpoint import Checkpointer
  reader = Checkpointer(run)
  state = reader.restore()
  reader.close()
  for served, average, raw in zip(*map(jax.tree.leaves, (variables, state["ema"], state["params"]))):
    np.testing.assert_array_equal(served, average)  # the run was evaluated with its EMA (config.ema_decay): served too
    assert not np.array_equal(served, raw)
  ds = ml_collections.ConfigDict({**config["dataset"], "image_size": 28})  # what the pipeline would make of it
  grey = np.asarray(Image.open(photo).convert("L"))[..., None]
  x = pipeline._normalise_fn(ds)(pipeline._decode_fn(ds)({"image": tf.constant(grey), "label": tf.constant(0)}))
  probabilities = np.asarray(jax.nn.softmax(model.apply(variables, x["image"].numpy()[None], train=False)))[0]
  order = np.argsort(-probabilities)[:3]
  assert first["indices"] == order.tolist()
  assert first["names"] == [CLASS_NAMES[i] for i in order]
  np.testing.assert_allclose(first["probabilities"], probabilities[order], rtol=0, atol=1e-5)


def test_export_stablehlo_from_a_run(tiny_run, tmp_path):
  from jax import export

  from cnnjax.serving.load import from_run
  from cnnjax.serving.predict import logits
  run, _ = tiny_run
  with contextlib.redirect_stdout(io.StringIO()):
    assert main.main(["cnnjax", "export", "--workdir", str(run), "--format", "stablehlo", "--out",
                      str(tmp_path / "hlo")]) == 0
  served = from_run(str(run), "test")
  x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype(np.float32)
  got = export.deserialize((tmp_path / "hlo" / "model.jax_export").read_bytes()).call(x)
  np.testing.assert_allclose(np.asarray(got), logits(served, x), rtol=0, atol=1e-5)
  meta = json.loads((tmp_path / "hlo" / "serving.json").read_text())
  assert meta["input_shape"] == [None, 28, 28, 1] and meta["class_names"][0] == "T-shirt/top"


def test_predict_prints_a_table_without_json(tiny_run, capsys):
  run, photo = tiny_run
  assert main.main(["cnnjax", "predict", str(photo), "--workdir", str(run), "--top", "2"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == f"{photo}:" and len(lines) == 3
  assert [line.split()[0] for line in lines[1:]] == ["1.", "2."]
  assert float(lines[1].split()[1]) >= float(lines[2].split()[1])
