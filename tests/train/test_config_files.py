"""cnnjax.train.config_files: where the shipped configs are (wheel or checkout) and how `--config` names resolve."""

from pathlib import Path

import pytest

from cnnjax.errors import InputError
from cnnjax.train import config_files

REPO = Path(__file__).resolve().parents[2]


def test_in_a_checkout_the_shipped_configs_are_its_configs_folder():
  assert config_files.shipped_configs() == REPO / "configs"
  assert config_files.config_names() == sorted(p.stem for p in (REPO / "configs").glob("*.py"))
  assert "fashion_mnist_lenet5" in config_files.config_names()


def test_a_wheel_s_cnnjax_configs_comes_first_and_a_bare_site_has_none(monkeypatch, tmp_path):
  site = tmp_path / "site-packages"
  (site / "cnnjax" / "configs").mkdir(parents=True)
  (site / "cnnjax" / "configs" / "mine.py").write_text("")
  (site / "configs").mkdir()  # another distribution's top-level configs/: not cnnjax's
  monkeypatch.setattr(config_files, "PACKAGE", site / "cnnjax")
  assert config_files.shipped_configs() == site / "cnnjax" / "configs"
  assert config_files.resolve("mine") == str(site / "cnnjax" / "configs" / "mine.py")
  (site / "cnnjax" / "configs" / "mine.py").unlink()
  (site / "cnnjax" / "configs").rmdir()
  assert config_files.shipped_configs() is None  # no pyproject.toml beside cnnjax/: not a checkout
  with pytest.raises(InputError, match="shipped configs: none"):
    config_files.resolve("fashion_mnist_lenet5")


def test_names_and_paths_resolve(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  shipped = str(REPO / "configs" / "mnist1d_cnn.py")
  assert config_files.resolve("mnist1d_cnn") == config_files.resolve("mnist1d_cnn.py") == shipped
  assert config_files.resolve("configs/mnist1d_cnn.py") == shipped  # the README's path, with no checkout here
  assert config_files.resolve("configs/missing.py") == "configs/missing.py"  # a path: the caller says it is missing
  assert config_files.resolve("elsewhere/mnist1d_cnn.py") == "elsewhere/mnist1d_cnn.py"
  assert config_files.resolve("") == ""
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "mnist1d_cnn.py").write_text("")
  assert config_files.resolve("configs/mnist1d_cnn.py") == "configs/mnist1d_cnn.py"  # an existing file wins


def test_an_unknown_name_lists_close_matches_on_one_line(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(InputError) as error:
    config_files.resolve("mnist1d_cnnn.py")
  message = str(error.value)
  assert message.startswith("--config mnist1d_cnnn.py: no such file and no shipped config of that name; "
                            "did you mean mnist1d_cnn")
  assert "\n" not in message and message.endswith(", ".join(config_files.config_names()))
