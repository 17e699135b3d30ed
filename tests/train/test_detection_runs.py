"""Detectors through the ordinary runner on tiny prepared scenes: results.json carries pycocotools' mAP, R-CNN
reads selective-search proposals from the pipeline, and `cnnjax detect` serves the run."""

import json
import shutil

import jax
import numpy as np
import pytest
from PIL import Image

from cnnjax import main as cli
from cnnjax.data import fashion_scenes
from cnnjax.train import runner
from tests.data.test_detection_scenes import _blob_pool

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
  """A prepared fashion_scenes 3.0.0 of 16 train and 8 test scenes built from ellipse 'garments'."""
  data_dir = tmp_path_factory.mktemp("tfds")
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(fashion_scenes, "_load_fashion_mnist", lambda split, data_dir: _blob_pool())
    patch.setattr(fashion_scenes.FashionScenes, "SPEC", fashion_scenes.SceneSpec(num_train=16, num_test=8))
    from cnnjax.data import sources
    sources.get_builder("fashion_scenes", str(data_dir))
  return str(data_dir)


def _config(name: str, data_dir: str, **changes):
  import importlib.util
  from pathlib import Path
  path = Path(__file__).resolve().parents[2] / "configs" / f"{name}.py"
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config().unlock()
  config.dataset.data_dir = data_dir
  config.dataset.train_split = "train"
  config.batch_size, config.eval_batch_size = 8, 8
  config.num_train_steps, config.log_every_steps, config.checkpoint_every_steps = 3, 1, 3
  config.schedule.warmup_epochs = 0.0
  config.progress_bar = False
  for key, value in changes.items():
    config[key] = value
  return config.lock()


def _params(workdir):
  from tests.train.test_runner import _final_params
  return _final_params(workdir)


def test_centernet_trains_reports_coco_map_resumes_exactly_and_serves(scenes, tmp_path, capsys):
  """4 steps (2 epochs of 16 scenes, flips drawn per step); a copy of the run's step-2 checkpoint resumes to the
  same bits."""
  workdir = tmp_path / "centernet"
  config = _config("fashion_scenes_centernet", scenes, model="centernet_resnet20_s8", num_train_steps=4,
                   checkpoint_every_steps=2, keep_checkpoints=2)
  results = runner.train_and_evaluate(config, workdir)
  resumed = tmp_path / "resumed"
  shutil.copytree(workdir / "checkpoints" / "2", resumed / "checkpoints" / "2")
  shutil.copy(workdir / "config.json", resumed / "config.json")
  runner.train_and_evaluate(config, resumed)
  (step_a, params_a), (step_b, params_b) = _params(workdir), _params(resumed)
  assert step_a == step_b == 4
  for a, b in zip(jax.tree.leaves(params_a), jax.tree.leaves(params_b)):
    np.testing.assert_array_equal(a, b)
  final = results["final"]
  assert json.loads((resumed / "results.json").read_text())["final"]["test_map"] == final["test_map"]
  for key in ("test_map", "test_map50", "test_map75", "test_ar100"):
    assert 0.0 <= final[key] <= 1.0
  assert final["test_num_examples"] == 8 and set(final["test_per_class"]) == {"per_class_ap", "per_class_ap50"}
  losses = [json.loads(line)["loss"] for line in (workdir / "metrics.jsonl").read_text().splitlines()
            if '"train"' in line]
  assert losses[-1] < losses[0]
  assert json.loads((workdir / "results.json").read_text())["final"]["test_map50"] == final["test_map50"]

  scene = np.zeros((64, 64), np.uint8)
  scene[10:30, 12:40] = 200
  Image.fromarray(scene).save(tmp_path / "scene.png")
  out = tmp_path / "detections.png"
  capsys.readouterr()  # the training's own output
  assert cli.main(["cnnjax", "detect", str(tmp_path / "scene.png"), "--workdir", str(workdir), "--out", str(out),
                   "--json", "--score_threshold", "0"]) == 0
  printed = json.loads(capsys.readouterr().out)
  assert len(printed["detections"]) == 100  # every kept peak at threshold 0, COCO's 100 per image
  assert all(len(d["box"]) == 4 and 0 <= d["class"] < 10 for d in printed["detections"])
  assert Image.open(out).size == (256, 256)


def test_rcnn_reads_cached_proposals_and_trains(scenes, tmp_path):
  config = _config("fashion_scenes_rcnn", scenes)
  config.unlock().dataset.num_proposals = 16
  results = runner.train_and_evaluate(config.lock(), tmp_path / "rcnn")
  assert 0.0 <= results["final"]["test_map50"] <= 1.0
  from cnnjax.data import proposals, sources
  builder = sources.get_builder("fashion_scenes", scenes)
  cached = np.load(proposals.cache_path(builder, "test", "fast", 16))
  assert cached.shape == (8, 16, 4) and np.all(cached[..., 2] <= 64) and np.all(cached[..., 0] >= 0)
  assert np.all((cached[..., 2] > cached[..., 0]) | np.all(cached == 0, -1))
