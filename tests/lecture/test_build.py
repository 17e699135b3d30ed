"""`cnnjax lecture`: the index links every figure it wrote, one line each, and results.json holds the numbers."""

import json

from cnnjax.main import main


def test_lecture_command_writes_index_and_figures(tmp_path):
  out = tmp_path / "lecture"
  assert main(["cnnjax", "lecture", "--out", str(out), "--workdir", str(tmp_path / "runs"),
               "--only", "arithmetic"]) == 0
  results = json.loads((out / "results.json").read_text())
  figures = results["sections"]["arithmetic"]["figures"]
  assert figures == ["cnn_output_sizes.png", "cnn_connectivity.png", "alexnet_shapes.png"]
  readme = (out / "README.md").read_text().splitlines()
  for name in figures:
    assert (out / name).stat().st_size > 1000
    assert sum(line.startswith(f"- [{name}]({name}): ") for line in readme) == 1
  assert results["sections"]["arithmetic"]["numbers"]["one_by_one_cost"]["direct_5x5"] == 120_422_400


def test_unknown_section_is_refused(tmp_path, capsys):
  assert main(["cnnjax", "lecture", "--out", str(tmp_path), "--only", "neurons"]) == 2
  assert "unknown lecture sections ['neurons']" in capsys.readouterr().err


def test_only_reruns_one_section_and_keeps_the_others(tmp_path):
  out, runs = tmp_path / "lecture", str(tmp_path / "runs")
  assert main(["cnnjax", "lecture", "--out", str(out), "--workdir", runs, "--only", "arithmetic"]) == 0
  first = json.loads((out / "results.json").read_text())["sections"]["arithmetic"]
  assert main(["cnnjax", "lecture", "--out", str(out), "--workdir", runs, "--only", "upsampling"]) == 0
  results = json.loads((out / "results.json").read_text())
  assert list(results["sections"]) == ["arithmetic", "upsampling"]  # the lecture's order
  assert results["sections"]["arithmetic"] == first
  readme = (out / "README.md").read_text()
  assert "## 5. CNN arithmetic" in readme and "## 7. Upsampling" in readme
  assert results["total_seconds"] == round(sum(s["seconds"] for s in results["sections"].values()), 1)
