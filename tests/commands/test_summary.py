"""`cnnjax summary`: the lecture's AlexNet table, JSON output, totals and user-facing errors."""

import json

import pytest

from cnnjax.analysis import counting
from cnnjax.commands import summary
from cnnjax.main import main

LECTURE_ALEXNET = {
    "conv1": [55, 55, 96], "pool1": [27, 27, 96], "norm1": [27, 27, 96], "conv2": [27, 27, 256],
    "pool2": [13, 13, 256], "norm2": [13, 13, 256], "conv3": [13, 13, 384], "conv4": [13, 13, 384],
    "conv5": [13, 13, 256], "pool3": [6, 6, 256], "fc6": [4096], "fc7": [4096], "fc8": [1000],
}


def test_alexnet_json_shows_the_lecture_table(capsys):
  assert main(["cnnjax", "summary", "alexnet", "--json"]) == 0
  out = json.loads(capsys.readouterr().out)
  assert out["model"] == "alexnet" and out["input_shape"] == [227, 227, 3]
  shapes = {layer["name"]: layer["output_shape"] for layer in out["layers"]}
  assert {k: shapes[k] for k in LECTURE_ALEXNET} == LECTURE_ALEXNET
  assert out["params"] == 62_378_344 and isinstance(out["multiply_adds"], int)
  params = {layer["name"]: layer["params"] for layer in out["layers"]}
  assert params["conv1"] == 34_944 and params["fc6"] == 37_752_832  # 11*11*3*96+96, 9216*4096+4096
  assert out["multiply_adds"] == sum(layer["multiply_adds"] for layer in out["layers"])


def test_table_with_options(capsys):
  assert main(["cnnjax", "summary", "cifar_resnet20", "--input_shape", "28,28,1", "--num_classes", "7",
               "--depth", "1"]) == 0
  text = capsys.readouterr().out
  assert "layer1_block0" in text and "layer1_block0/conv1" not in text
  assert "28x28x16" in text and "7x7x64" in text
  params = 269_722 - 16 * 3 * 9 + 16 * 9 - 650 + 64 * 7 + 7  # 1-channel stem, 7-class head
  assert f"total params {params:,}" in text


def test_summarize_matches_published_multiply_adds():
  out = summary.summarize("resnet18")
  assert out["params"] == 11_689_512 and abs(out["multiply_adds"] / 1.814e9 - 1) < 0.01


def test_errors(capsys):
  assert main(["cnnjax", "summary", "resnet5"]) == 2
  assert "did you mean" in capsys.readouterr().err
  assert main(["cnnjax", "summary", "lenet5", "--input_shape", "28,28"]) == 2
  err = capsys.readouterr().err
  assert "H,W,C" in err and len(err.splitlines()) == 1


def test_a_bug_while_counting_keeps_its_traceback(monkeypatch):
  """Only the model's own refusals of --input_shape / --num_classes become one line; a TypeError or ValueError
  raised anywhere else is a bug and propagates."""
  def broken(model, shape):
    raise TypeError("a bug in the counting code")

  monkeypatch.setattr(counting, "layer_table", broken)
  with pytest.raises(TypeError, match="a bug in the counting code"):
    main(["cnnjax", "summary", "lenet5"])
