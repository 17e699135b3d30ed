"""`cnnjax train` flags: overrides apply, bad keys and values get errors that name the fix."""

from cnnjax import main as cli
from cnnjax.commands.config_args import parse_config

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
