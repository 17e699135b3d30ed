"""`cnnjax train` flags: overrides apply, bad keys and values get errors that name the fix."""

import pytest

from cnnjax import main as cli
from cnnjax.commands.config_args import parse_config
from cnnjax.train import config as config_lib

CONFIG = "configs/fashion_mnist_lenet5.py"


def test_overrides_apply_to_the_locked_config():
  args = parse_config(["cnnjax train", f"--config={CONFIG}", "--config.batch_size=64",
                       "--config.optimizer.momentum=0.5"])
  assert args.config.batch_size == 64 and args.config.optimizer.momentum == 0.5
  assert args.config.is_locked


def test_unknown_key_names_the_key_and_close_matches(capsys, tmp_path):
  code = cli.main(["cnnjax", "train", "--config", CONFIG, "--config.batch_sise=3", "--workdir", str(tmp_path)])
  err = capsys.readouterr().err
  assert code == 2
  assert "unknown config key config.batch_sise" in err and "config.batch_size" in err
  code = cli.main(["cnnjax", "train", "--config", CONFIG, "--config.optimizer.momentun=0.1", "--workdir", str(tmp_path)])
  assert code == 2 and "config.optimizer.momentum" in capsys.readouterr().err
  assert not (tmp_path / "config.json").exists()


def test_wrongly_typed_value_is_rejected(capsys, tmp_path):
  code = cli.main(["cnnjax", "train", "--config", CONFIG, "--config.batch_size=abc", "--workdir", str(tmp_path)])
  err = capsys.readouterr().err
  assert code == 2 and "config.batch_size=abc" in err


def test_missing_workdir_and_unknown_subcommand(capsys):
  assert cli.main(["cnnjax", "train", "--config", CONFIG]) == 2
  assert "--workdir is required" in capsys.readouterr().err
  assert cli.main(["cnnjax", "trian"]) == 2
  assert "did you mean 'train'" in capsys.readouterr().err


def test_config_by_name_from_any_folder(tmp_path, monkeypatch):
  """`--config NAME` (or NAME.py) is the shipped config of that name, wherever the command runs."""
  monkeypatch.chdir(tmp_path)
  for value in ("fashion_mnist_lenet5", "fashion_mnist_lenet5.py", CONFIG):  # CONFIG: no such file here
    args = parse_config(["cnnjax train", "--config", value, "--config.batch_size=64"])
    assert args.config.model == "lenet5" and args.config.batch_size == 64
  (tmp_path / "fashion_mnist_lenet5.py").write_text(
      "from cnnjax.train.config import default_config\n\n\ndef get_config():\n"
      "  config = default_config()\n  config.model = 'vgg11'\n  return config.lock()\n")
  assert parse_config(["cnnjax train", "--config=fashion_mnist_lenet5.py"]).config.model == "vgg11"  # a file wins


def test_unknown_config_name_lists_close_matches(capsys, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert cli.main(["cnnjax", "train", "--config", "fashion_mnist_lenet6", "--workdir", "run"]) == 2
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1 and err.startswith("cnnjax train: --config fashion_mnist_lenet6: no such file")
  assert "did you mean fashion_mnist_lenet5" in err and "mnist1d_cnn" in err  # close matches, then every name
  assert not (tmp_path / "run").exists()


def test_a_model_option_from_the_command_line_trains_in_bfloat16(capsys, tmp_path):
  """The model's own fields are options: lenet5 computes in bfloat16 (cnnjax.fast leaves oneDNN off for it)."""
  import json

  import tensorflow_datasets as tfds
  workdir = tmp_path / "run"
  with tfds.testing.mock_data(num_examples=16):
    code = cli.main(["cnnjax", "train", "--config", CONFIG, "--workdir", str(workdir),
                     "--config.model_kwargs.dtype=bfloat16", "--config.num_train_steps=5", "--config.batch_size=8",
                     "--config.eval_batch_size=8", "--noconfig.progress_bar"])
  assert code == 0, capsys.readouterr().err
  results = json.loads((workdir / "results.json").read_text())
  assert results["config"]["model_kwargs"] == {"dtype": "bfloat16"} and results["final"]["steps"] == 5
  assert results["environment"]["fast_paths"]["onednn_convolutions"] == "off: dtype bfloat16"


def test_model_options_are_typed_by_the_models_defaults():
  config = parse_config(["cnnjax train", f"--config={CONFIG}", "--config.model_kwargs.dtype", "float16",
                         "--config.model_kwargs.hidden_sizes=(64, 32)", "--config.model_kwargs.conv1_padding=0"]).config
  assert config.model_kwargs.to_dict() == {"dtype": "float16", "hidden_sizes": (64, 32), "conv1_padding": 0}
  # typed by the model chosen last: cifar_resnet56's stem_stride, which lenet5 lacks
  config = parse_config(["cnnjax train", f"--config={CONFIG}", "--config.model_kwargs.stem_stride=2",
                         "--config.model=cifar_resnet56"]).config
  assert config.model == "cifar_resnet56" and config.model_kwargs.stem_stride == 2 and config.is_locked


@pytest.mark.parametrize("arg,message", [
    ("--config.model_kwargs.dtpe=bfloat16", "config.model_kwargs.dtpe is not an option of lenet5; did you mean "
                                            "config.model_kwargs.dtype?"),
    ("--config.model_kwargs.kernel_size=big", "--config.model_kwargs.kernel_size=big: invalid literal for int()"),
    ("--config.model_kwargs.conv=Conv", "config.model_kwargs.conv is a building block of lenet5"),
    ("--config.augment.flipp", "config.augment.flipp is not an augmentation; did you mean config.augment.flip?"),
    ("--config.augment.crop.pading=4", "config.augment.crop.pading is not a keyword of crop; did you mean "
                                       "config.augment.crop.padding?"),
    ("--config.augment.crop.padding=4.5", "--config.augment.crop.padding=4.5: invalid literal for int()"),
    ("--config.augment.flip=maybe", "give --config.augment.flip to use it, --noconfig.augment.flip to drop it"),
])
def test_bad_options_name_the_key_and_close_matches(capsys, tmp_path, arg, message):
  assert cli.main(["cnnjax", "train", "--config", CONFIG, "--workdir", str(tmp_path / "run"), arg]) == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / "run").exists()


def test_augmentations_are_chosen_set_and_dropped_from_the_command_line():
  config = parse_config(["cnnjax train", f"--config={CONFIG}", "--config.augment.flip",
                         "--config.augment.crop.padding=4", "--config.augment.color.brightness=0.2"]).config
  assert config.augment.to_dict() == {"color": {"brightness": 0.2}, "crop": {"padding": 4}, "flip": {}}
  config = parse_config(["cnnjax train", "--config=configs/cifar10_resnet20.py", "--noconfig.augment.crop",
                         "--config.augment.flip.probability=0.25", "--config.augment.affine=true"]).config
  assert config.augment.to_dict() == {"affine": {}, "flip": {"probability": 0.25}}
  config_lib.check_config(config)


def test_presets_choose_the_depth():
  config = parse_config(["cnnjax train", "--config=configs/cifar10_resnet20.py:resnet56"]).config
  assert config.model == "cifar_resnet56" and config.num_train_steps == 64_000
  config = parse_config(["cnnjax train", "--config", "configs/fashion_mnist_resnet20.py:resnet32,stem2",
                         "--config.model_kwargs.stem_stride=4"]).config  # overrides apply after the preset
  assert (config.model, config.model_kwargs.stem_stride) == ("cifar_resnet32", 4)


def test_preset_errors_show_their_cause(capsys, tmp_path):
  broken = tmp_path / "broken.py"
  broken.write_text("from configs.fashion_mnist_lenet5 import get_config as base\n\n\n"
                    "def get_config(preset=None):\n  config = base()\n  return config.lock() + preset\n")
  cases = [
      (f"{broken}:wide", f"config file {broken} failed in get_config('wide'): TypeError: unsupported operand "
                         "type(s) for +: 'ConfigDict' and 'str' (line 6); fix the file"),
      (f"{CONFIG}:wide", f"config file {CONFIG} takes no preset (its get_config() has no argument): drop ':wide'"),
      ("configs/cifar10_resnet20.py:resnet57", "config file configs/cifar10_resnet20.py:resnet57: preset='resnet57' "
                                                "is unknown; did you mean 'resnet56'"),
  ]
  for config, message in cases:
    assert cli.main(["cnnjax", "train", "--config", config, "--workdir", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


def test_resuming_with_another_model_exits_2_naming_the_differences(capsys, tmp_path):
  import tensorflow_datasets as tfds
  workdir = tmp_path / "run"
  common = ["cnnjax", "train", "--config", CONFIG, "--workdir", str(workdir), "--config.num_train_steps=1",
            "--config.batch_size=8", "--config.eval_batch_size=8", "--noconfig.progress_bar"]
  with tfds.testing.mock_data(num_examples=8):
    assert cli.main(common) == 0
    saved = (workdir / "config.json").read_bytes()
    capsys.readouterr()
    assert cli.main([*common, "--config.model=mlp"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and 'model: "lenet5" -> "mlp"' in err and "--config.allow_config_change=true" in err
  assert (workdir / "config.json").read_bytes() == saved
