"""configs/fashion_mnist_speedrun.py and its seed study (experiments/speedrun/run_seeds.py)."""

import json
import statistics

import pytest

from cnnjax.train import config as config_lib
from experiments.speedrun import run_seeds
from tests.configs.test_recipes import load


def test_the_speedrun_config_is_valid_and_pulls_every_lever():
  config = load("fashion_mnist_speedrun")
  config_lib.check_config(config)
  assert (config.label_smoothing, config.ema_decay, config.eval_flip_tta) == (0.1, 0.999, True)
  assert config.schedule.name == "linear" and config.eval_every_epochs == 0.0
  assert (config.model, config.model_kwargs.stem_stride, config.num_epochs) == ("cifar_resnet20", 1, 14.0)
  stem2 = load("fashion_mnist_speedrun", "stem2")
  assert (stem2.model_kwargs.stem_stride, stem2.num_epochs, stem2.ema_decay) == (2, 12.0, 0.999)
  for lever, overrides in run_seeds.ABLATIONS.items():  # each ablation names a real key and turns it off
    (override,) = overrides
    key, value = override.removeprefix("--config.").split("=")
    assert key in config and value in ("0.0", "False"), lever


def _row(seed, accuracy, wall):
  return {"seed": seed, "test_accuracy": accuracy, "wall_seconds": wall}


def test_summary_has_the_statistics_and_paired_lever_differences(tmp_path):
  rows = {"full": [_row(0, 0.941, 600.0), _row(1, 0.939, 610.0), _row(2, 0.943, 590.0)],
          "no_ema": [_row(0, 0.936, 598.0), _row(1, 0.935, 611.0), _row(2, 0.940, 585.0)]}
  summary = run_seeds.summarise(rows)
  full = summary["runs"]["full"]
  assert full["test_accuracy"]["mean"] == pytest.approx(0.941)
  assert full["test_accuracy"]["std"] == pytest.approx(statistics.stdev([0.941, 0.939, 0.943]))
  assert (full["test_accuracy"]["min"], full["test_accuracy"]["max"]) == (0.939, 0.943)
  assert full["reached_target"] == 2 and full["wall_seconds_mean"] == pytest.approx(600.0)
  ema = summary["levers"]["ema"]
  assert ema["accuracy_differences"] == pytest.approx([-0.005, -0.004, -0.003])
  assert ema["accuracy_difference_mean"] == pytest.approx(-0.004)
  assert ema["wall_seconds_difference_mean"] == pytest.approx(-2.0)
  text = run_seeds.report(summary, "configs/fashion_mnist_speedrun.py")
  assert "| full | 3 | 0.9410 |" in text and "| ema | -0.0040 |" in text
  assert "Note:" not in text
  assert "\nNote: seed 2 shared the CPU\n" in run_seeds.report({**summary, "note": "seed 2 shared the CPU"}, "c.py")
  json.dumps(summary)  # summary.json is plain JSON
  assert "four_ways" not in summary
  rows["full"][0]["four_ways"] = {"raw": {"plain": 0.93, "flip_tta": 0.935}, "ema": {"plain": 0.94, "flip_tta": 0.941}}
  rows["full"][1]["four_ways"] = {"raw": {"plain": 0.92, "flip_tta": 0.933}, "ema": {"plain": 0.93, "flip_tta": 0.939}}
  four_ways = run_seeds.summarise(rows)["four_ways"]
  assert four_ways["n"] == 2 and four_ways["raw"]["flip_tta"] == pytest.approx(0.934)
  assert four_ways["ema"] == pytest.approx({"plain": 0.935, "flip_tta": 0.94})
  assert "| ema | 0.9350 | 0.9400 |" in run_seeds.report(run_seeds.summarise(rows), "c.py")


def test_an_unknown_lever_is_refused(capsys):
  with pytest.raises(SystemExit):
    run_seeds.main(["--ablate", "ema,mixup"])
  assert "mixup: unknown" in capsys.readouterr().err


@pytest.mark.slow  # two `cnnjax train` processes of two steps each on the real Fashion-MNIST (~2 minutes)
def test_two_tiny_runs_leave_results_without_checkpoints(tmp_path):
  out = tmp_path / "out"
  run_seeds.main(["--seeds", "0", "--ablate", "tta", "--out", str(out), "--scratch", str(tmp_path / "scratch"),
                  "--override=--config.num_train_steps=2", "--override=--config.eval_batch_size=2000"])
  assert sorted(p.name for p in (out / "no_tta" / "seed0").iterdir()) == ["config.json", "metrics.jsonl",
                                                                          "results.json", "wall.json"]
  assert sorted(p.name for p in (out / "full" / "seed0").iterdir()) == ["config.json", "evaluate_levers.json",
                                                                        "metrics.jsonl", "results.json", "wall.json"]
  four_ways = json.loads((out / "full" / "seed0" / "evaluate_levers.json").read_text())
  full_accuracy = json.loads((out / "full" / "seed0" / "results.json").read_text())
  assert four_ways["ema"]["flip_tta"] == full_accuracy["final"]["test_accuracy"]  # what the run itself evaluated
  summary = json.loads((out / "summary.json").read_text())
  assert summary["runs"]["no_tta"]["seeds"][0]["evaluation"] == {"weights": "ema", "flip_tta": False}
  assert summary["runs"]["full"]["seeds"][0]["evaluation"] == {"weights": "ema", "flip_tta": True}
  assert not list((tmp_path / "scratch").iterdir())
  assert (out / "README.md").read_text().startswith("# Fashion-MNIST speedrun")
