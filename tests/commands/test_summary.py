"""`cnnjax summary`: the lecture's AlexNet table, every model at its own input, units, and user-facing errors."""

import json

import pytest

from cnnjax.analysis import counting
from cnnjax.commands import summary
from cnnjax.main import main
from cnnjax.models import INPUTS, MODELS
from tests.models.test_counts import PUBLISHED

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


@pytest.mark.parametrize("argv,message", [
    (["resnet5", "--input_shape", "28,28"], "cnnjax summary: model='resnet5' is unknown; did you mean 'resnet50'"),
    (["lenet5", "--input_shape", "0"], "cnnjax summary: argument --input_shape: '0' is not a shape"),
    (["lenet5", "--input_shape", "28,28,x"], "cnnjax summary: argument --input_shape: '28,28,x' is not a shape"),
    (["mnist1d_cnn", "--input_shape", "28,28,1"], "cnnjax summary: mnist1d_cnn takes --input_shape L or L,C (default "
     "40,1); got 28,28,1"),
    (["mnist1d_cnn", "--input_shape", "2"], "use signals of at least 3 samples"),
    (["unet", "--input_shape", "100,100,1"], "cnnjax summary: unet does not accept --input_shape 100,100,1: U-Net"),
    (["segnet", "--input_shape", "100,100,3"], "divisible by 32"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_models_and_shapes_are_one_line(argv, message, capsys):
  assert main(["cnnjax", "summary", *argv]) == 2
  out, err = capsys.readouterr()
  assert message in err and len(err.splitlines()) == 1 and out == ""
  assert "Traceback" not in err and not err.startswith("cnnjax summary: \"")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_summarises_at_its_own_input(name, capsys):
  """registry.INPUTS holds each model's input; a model with a published parameter count has it there."""
  assert main(["cnnjax", "summary", name, "--json"]) == 0
  out = json.loads(capsys.readouterr().out)
  assert out["input_shape"] == list(INPUTS[name].shape)
  assert out["params"] > 0 and out["multiply_adds"] > 0
  if name in PUBLISHED:
    count, shape = PUBLISHED[name]
    assert (out["params"], tuple(out["input_shape"])) == (count, shape[1:])


def test_one_dimensional_models_take_l_or_l_c(capsys):
  """The MNIST-1D CNN (Greydanus 2020): 5,210 parameters on length-40 signals. Multiply-adds by hand, lengths
  40 -> 19 -> 10 -> 5: 19*25*5 + 10*25*75 + 5*25*75 + 125*10 = 31,750."""
  for shape in ([], ["--input_shape", "40"], ["--input_shape", "40,1"]):
    assert main(["cnnjax", "summary", "mnist1d_cnn", "--json", *shape]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["params"], out["multiply_adds"]) == (5_210, 31_750)
    assert [layer["output_shape"] for layer in out["layers"]] == [[19, 25], [10, 25], [5, 25], [10]]


def test_segmentation_models_at_their_own_size():
  assert summary.summarize("unet")["output_shape"] == [388, 388, 2]  # the paper's 572 -> 388 tile
  assert summary.summarize("unet_padded")["output_shape"] == [512, 512, 2]
  assert summary.summarize("segnet")["output_shape"] == [352, 480, 12]


def test_units_never_round_to_zero(capsys):
  assert main(["cnnjax", "summary", "lenet5"]) == 0
  total = capsys.readouterr().out.splitlines()[-1]
  assert total == "total params 61,706 (61.71 k)   multiply-adds 416,520 (416.5 k)"
  assert main(["cnnjax", "summary", "resnet18", "--depth", "1"]) == 0
  assert capsys.readouterr().out.splitlines()[-1] == ("total params 11,689,512 (11.69 M)   multiply-adds "
                                                      "1,814,073,344 (1.814 G)")
  assert [summary.with_unit(n) for n in (0, 999, 1_000, 2_500_000)] == ["0", "999", "1,000 (1 k)",
                                                                         "2,500,000 (2.5 M)"]


def test_a_bug_while_counting_keeps_its_traceback(monkeypatch):
  """Only the model's own refusals of --input_shape / --num_classes become one line; a TypeError or ValueError
  raised anywhere else is a bug and propagates."""
  def broken(model, shape):
    raise TypeError("a bug in the counting code")

  monkeypatch.setattr(counting, "layer_table", broken)
  with pytest.raises(TypeError, match="a bug in the counting code"):
    main(["cnnjax", "summary", "lenet5"])


def test_kwarg_shows_googlenets_5x5_branch(capsys):
  """`--kwarg branch3_kernel=5`: the paper's 5x5 branch (16 -> 32 channels at inception3a: 16*25*32 weights + BN)."""
  assert main(["cnnjax", "summary", "googlenet", "--kwarg", "branch3_kernel=5", "--json"]) == 0
  out = json.loads(capsys.readouterr().out)
  rows = {r["name"]: r for r in out["layers"]}
  assert rows["inception3a/branch3_conv"]["params"] == 16 * 25 * 32 + 2 * 32
  assert rows["inception3a/branch3_conv"]["multiply_adds"] == 28 * 28 * 16 * 25 * 32
  assert out["params"] == 7_005_832 and out["kwargs"] == {"branch3_kernel": 5}


def test_kwargs_are_typed_like_config_model_kwargs():
  assert summary.parse_kwargs("resnet50", ["variant=v1", "zero_init_last_bn=true", "stage_sizes=3,4,6,3"]) == {
      "variant": "v1", "zero_init_last_bn": True, "stage_sizes": (3, 4, 6, 3)}
  assert summary.parse_kwargs("vgg16_bn", ["pool_size=1,1", "dropout_rate=0.1"]) == {"pool_size": (1, 1),
                                                                                  "dropout_rate": 0.1}
  out = summary.summarize("vgg16_bn", (32, 32, 1), 10, summary.parse_kwargs("vgg16_bn", ["pool_size=1,1",
                                                                                          "hidden_size=512"]))
  assert out["params"] == 15_252_426  # configs/fashion_mnist_vgg16.py's model
