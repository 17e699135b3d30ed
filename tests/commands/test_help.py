"""The front door: every subcommand's --help, `cnnjax --version`, `python -m cnnjax`, one flag spelling.

Help starts no work: each subcommand prints its flags and example command lines and exits 0,
in-process (cnnjax.main.main) and as the program. Old dashed flag spellings still work, with one note.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnnjax import main as cli
from cnnjax.commands import arguments, summary

REPO = Path(__file__).resolve().parents[2]
# flags each subcommand's help must name (its own, in the underscore spelling)
FLAGS = {
    "train": ("--config FILE", "--workdir", "--coordinator_address", "--num_processes", "--process_id",
              "--[no]distributed_auto", "--config.KEY=VALUE"),
    "scale": ("--config", "--per_device_batch", "--global_batch", "--warmup_steps", "--input_shape", "--num_classes",
              "--batch_norm_stats"),
    "summary": ("--input_shape", "--num_classes", "--depth", "--json"),
    "reproduce": ("--seeds", "--quick", "--full", "--rows", "--out", "--configs"),
    "lecture": ("--out", "--workdir", "--only", "--record"),
    "segment": ("--method", "--workdir", "--max_side", "--to_8bit", "--position_weight", "--n_segments"),
    "proposals": ("--mode", "--out", "--top", "--json", "--max_side", "--seed"),
    "explain": ("--workdir", "--method", "--out", "--class_index", "--max_side"),
    "convert": ("--from", "--model", "--weights", "--out"),
    "predict": ("--weights", "--workdir", "--top", "--json"),
    "export": ("--weights", "--workdir", "--format", "--out"),
    "detect": ("--workdir", "--out", "--score_threshold", "--scale", "--json"),
}
OLD_SPELLINGS = ("--input-shape", "--per-device-batch", "--global-batch", "--warmup-steps", "--num-classes",
                 "--batch-norm-stats")


def _help(argv, capsys) -> str:
  assert cli.main(["cnnjax", *argv]) == 0
  out, err = capsys.readouterr()
  assert err == ""
  return out


def test_every_subcommand_is_in_the_table():
  assert set(FLAGS) == set(cli.SUBCOMMANDS)


@pytest.mark.parametrize("flag", ["--help", "-h", "--helpfull"])
@pytest.mark.parametrize("name", sorted(FLAGS))
def test_subcommand_help_shows_flags_and_examples(name, flag, capsys):
  text = _help([name, flag], capsys)
  for expected in FLAGS[name]:
    assert expected in text, f"{expected} missing from cnnjax {name} {flag}"
  examples = text[text.index("examples:"):].splitlines()[1:]
  assert examples and all(line.strip().startswith(f"cnnjax {name}") for line in examples if line.strip())
  assert not any(old in text for old in OLD_SPELLINGS)


def test_help_wins_over_the_rest_of_the_line(capsys):
  """--help anywhere before `--` prints the flags, even next to flags that would be refused."""
  text = _help(["train", "--config", "configs/missing.py", "--config.batch_sise=3", "--help"], capsys)
  assert text.startswith("usage: cnnjax train")
  assert "cnnjax train --config configs/fashion_mnist_lenet5.py --workdir runs/lenet5" in text
  from cnnjax.commands.config_args import wants_help
  assert not wants_help(["cnnjax train", "--config", "c.py", "--", "--help"])


def test_top_level_help_states_the_flag_convention(capsys):
  text = _help(["--help"], capsys)
  assert "underscores" in text and "--config.KEY=VALUE" in text and "--version" in text
  assert "python -m cnnjax" in text


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_the_installed_package_version(flag, capsys):
  import importlib.metadata
  assert _help([flag], capsys) == f"cnnjax {importlib.metadata.version('cnnjax')}\n"


def test_version_when_not_installed(monkeypatch, capsys):
  import importlib.metadata

  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)

  monkeypatch.setattr(importlib.metadata, "version", missing)
  assert _help(["--version"], capsys).startswith("cnnjax unknown (the cnnjax package is not installed")


def _program(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                        env={**os.environ, "PYTHONPATH": str(REPO)})


def test_python_dash_m_cnnjax():
  """`python -m cnnjax` is the command: its help, a subcommand's help, and an error's one line and exit 2."""
  result = _program("-m", "cnnjax", "--help")
  assert result.returncode == 0 and result.stdout.startswith("usage: cnnjax SUBCOMMAND")
  result = _program("-m", "cnnjax", "summary", "-h")
  assert result.returncode == 0 and "--input_shape" in result.stdout and "examples:" in result.stdout
  result = _program("-m", "cnnjax", "train", "--help")
  assert result.returncode == 0 and "--coordinator_address" in result.stdout and result.stderr == ""
  result = _program("-m", "cnnjax", "summary", "lenet")
  assert result.returncode == 2
  assert result.stderr.startswith("cnnjax summary: model='lenet' is unknown; did you mean 'lenet5'")


def test_old_spellings_work_with_one_note(capsys):
  assert cli.main(["cnnjax", "summary", "lenet5", "--input-shape", "28,28,1", "--num-classes=7", "--json"]) == 0
  out, err = capsys.readouterr()
  assert '"num_classes": 7' in out and '"input_shape": [28, 28, 1]' in out
  assert err.count("\n") == 1
  assert err.startswith("cnnjax summary: note: --input-shape, --num-classes are now --input_shape, --num_classes")
  assert "until the next release" in err


def test_every_old_scale_spelling_is_mapped(capsys):
  parser = __import__("cnnjax.commands.scale", fromlist=["_parser"])._parser()
  args, extra = parser.parse_known_args(["--per-device-batch", "4", "--global-batch=0", "--warmup-steps", "1",
                                         "--input-shape", "28,28,1", "--num-classes", "3", "--batch-norm-stats",
                                         "per_device"])
  assert not extra
  assert (args.per_device_batch, args.global_batch, args.warmup_steps, args.input_shape, args.num_classes,
          args.batch_norm_stats) == ([4], [0], 1, [28, 28, 1], 3, "per_device")
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1 and all(old in err for old in OLD_SPELLINGS)


def test_a_dashed_spelling_never_used_gets_a_hint():
  parser = arguments.ArgumentParser(prog="cnnjax segment")
  parser.add_argument("--max_side", type=int)
  with pytest.raises(arguments.InputError, match=re.escape("did you mean --max_side?")):
    parser.parse_args(["--max-side", "5"])


def test_renamed_flags_are_the_old_spellings_of_defined_flags():
  from cnnjax.commands import scale
  for old, new in {**scale.RENAMED, **summary.RENAMED}.items():
    assert "--" + old[2:].replace("-", "_") == new
  parser = scale._parser()
  assert all(new in parser._option_string_actions for new in scale.RENAMED.values())
