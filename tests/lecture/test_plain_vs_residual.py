"""Plain vs residual: the section's numbers are the recorded runs' (results/lecture/plain_vs_residual/)."""

import json

import numpy as np
import pytest

from cnnjax.errors import InputError
from cnnjax.lecture import plain_vs_residual as pvr

PARAMS = {"cifar_resnet20": 269_434, "cifar_resnet56": 852_730}  # 1-channel stem; option A adds no parameters


def _recorded(label: str) -> tuple[dict, list[dict]]:
  folder = pvr.RESULTS / label
  history = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
  return json.loads((folder / "results.json").read_text()), history


def test_section_states_the_recorded_numbers(tmp_path):
  results = pvr.load()
  assert results["command"] == pvr.COMMAND and results["recipe"] == pvr.RECIPE
  assert results["environment"]["versions"]["jax"] and list(results["runs"]) == list(pvr.RUNS)
  section = pvr.run(tmp_path)
  assert (tmp_path / "plain_vs_residual.png").stat().st_size > 1000
  for label, run in results["runs"].items():
    recorded, history = _recorded(label)
    assert (run["model"], run["shortcut"]) == pvr.RUNS[label]
    assert recorded["config"]["model"] == run["model"]
    assert recorded["config"]["model_kwargs"]["shortcut"] == run["shortcut"]
    assert recorded["config"]["dataset"]["train_split"] == pvr.RECIPE["train_split"]
    assert run["params"] == recorded["final"]["params"] == PARAMS[run["model"]]
    train = [1 - r["accuracy"] for r in history if r["split"] == "train"]
    test = [1 - r["accuracy"] for r in history if r["split"] != "train"]
    assert run["final_train_error"] == pytest.approx(np.mean(train[-pvr.LAST_RECORDS:]))
    assert run["final_test_error"] == pytest.approx(test[-1])
    assert len(run["test_error"]) == len(test) >= 6
    assert section.numbers[label] == {**{k: run[k] for k in ("final_train_error", "final_test_error", "params")},
                                      "final_train_error_percent": 100 * run["final_train_error"],
                                      "final_test_error_percent": 100 * run["final_test_error"]}
    assert f"| {label} | {run['model']} | {run['shortcut']} | {run['params']:,} | " \
           f"{100 * run['final_train_error']:.2f}% | {100 * run['final_test_error']:.2f}% |" in section.markdown


def test_verdict_follows_the_numbers():
  runs = {"plain-20": {"final_train_error": 0.1, "final_test_error": 0.2},
          "plain-56": {"final_train_error": 0.3, "final_test_error": 0.2},
          "ResNet-20": {"final_train_error": 0.1, "final_test_error": 0.2},
          "ResNet-56": {"final_train_error": 0.05, "final_test_error": 0.15}}
  text = pvr._verdict(runs)
  assert "plain-56 ends with higher training error than plain-20 (30.00% vs 10.00%)" in text
  assert "plain-56 ends with the same test error" in text
  assert "ResNet-56 ends with lower test error than ResNet-20 (15.00% vs 20.00%)" in text
  assert "at depth 56 the shortcuts take the training error from 30.00% to 5.00%" in text


def test_a_missing_record_names_the_command(tmp_path):
  with pytest.raises(InputError, match="cnnjax lecture --record plain_vs_residual"):
    pvr.load(tmp_path / "results.json")
