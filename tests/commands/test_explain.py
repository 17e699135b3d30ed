"""`cnnjax explain` on the recorded ResNet-20 Fashion-MNIST run: writes the heat-map PNG and names the class;
refuses runs of another task and classes the run does not have."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnjax import main
from cnnjax.errors import InputError

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "results" / "explain" / "fashion_mnist_resnet20_short"
BOOT = REPO / "results" / "explain" / "images" / "fashion_mnist_test_2_ankle_boot.png"


def test_gradcam_of_the_recorded_run_writes_a_heat_map(tmp_path, capsys):
  out = tmp_path / "heat.png"
  assert main.main(["cnnjax", "explain", str(BOOT), "--workdir", str(RUN), "--method", "gradcam",
                    "--out", str(out)]) == 0
  printed = capsys.readouterr().out
  assert "predicted class 9" in printed and f"heat map: {out}" in printed  # 9: ankle boot
  picture = np.asarray(Image.open(out))
  assert picture.shape == (224, 2 * 224 + 8, 3)
  np.testing.assert_array_equal(picture[::8, :224:8, 0], np.asarray(Image.open(BOOT)))  # the image, 8x enlarged
  assert (picture[:, 232:, 2].astype(int) != picture[:, :224, 2]).any()  # the heat over it


def test_explain_refuses_other_tasks_and_classes(tmp_path):
  from cnnjax.commands import explain
  segmentation = tmp_path / "seg"
  segmentation.mkdir()
  (segmentation / "config.json").write_text(json.dumps({"task": "segmentation"}))
  with pytest.raises(InputError, match="needs a classification run"):
    explain.run(["cnnjax explain", str(BOOT), "--workdir", str(segmentation), "--out", str(tmp_path / "h.png")])
  with pytest.raises(InputError, match="--class_index 10 is not a class"):
    explain.run(["cnnjax explain", str(BOOT), "--workdir", str(RUN), "--class_index", "10",
                 "--out", str(tmp_path / "h.png")])
  assert not (tmp_path / "h.png").exists()


def test_explain_sees_the_runs_evaluation_view(tmp_path):
  import tensorflow as tf

  from cnnjax.commands.explain import load_image
  from cnnjax.data import pipeline
  stored = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
  Image.fromarray(stored).save(tmp_path / "photo.png")
  ds = {"mean": [0.5] * 3, "std": [0.25] * 3, "image_size": 224, "eval_crop_fraction": 0.875}
  pixels, normalised = load_image(str(tmp_path / "photo.png"), ds, 400)
  np.testing.assert_array_equal(pixels, pipeline.resize_shorter_and_center_crop(tf.constant(stored), 256, 224))
  np.testing.assert_allclose(normalised, (pixels / 255 - 0.5) / 0.25, atol=1e-6)
