"""The README's Python quickstart runs as printed (on tfds mock data, in a temporary folder); its results tables are
the recorded runs'."""

import contextlib
import io
import re
from pathlib import Path

import tensorflow_datasets as tfds

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_code() -> str:
  """The python block between the README's quickstart markers."""
  text = README.read_text()
  section = text[text.index("<!-- quickstart:start -->"):text.index("<!-- quickstart:end -->")]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_install_and_quickstart_come_first():
  sections = [(i, line) for i, line in enumerate(README.read_text().splitlines()) if line.startswith("## ")]
  assert [line for _, line in sections[:2]] == ["## Install", "## Quickstart"]
  assert sections[1][0] < 40, "the quickstart should start within the README's first 40 lines"


def test_quickstart_runs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  printed = io.StringIO()
  # 30 steps of batch 128 are one epoch of the mock split: one evaluation, at the end
  with tfds.testing.mock_data(num_examples=30 * 128), contextlib.redirect_stdout(printed):
    exec(compile(quickstart_code(), "README.md quickstart", "exec"), {})  # pylint: disable=exec-used
  accuracy = float(printed.getvalue().strip().splitlines()[-1])
  assert 0.0 <= accuracy <= 1.0
  assert (tmp_path / "runs" / "quickstart" / "results.json").exists()


def test_results_tables_are_generated_from_the_recorded_runs():
  """Every table between markers in the README is what scripts/update_readme.py makes of results/ now."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("update_readme", README.parent / "scripts" / "update_readme.py")
  update = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(update)
  text = README.read_text()
  for start, end, make in ((update.START, update.END, update.results_table),
                           (update.SEG_START, update.SEG_END, update.segmentation_table),
                           (update.DET_START, update.DET_END, update.detection_table),
                           (update.CPU_START, update.CPU_END, update.cpu_speed_section),
                           (update.CPU_AVX2_START, update.CPU_AVX2_END,
                            lambda: update.cpu_speed_section(update.CPU_AVX2_RESULTS, update.CPU_AVX2_COMMAND)),
                           (update.FLOOR_START, update.FLOOR_END, update.step_floor_section),
                           (update.ALGORITHMS_START, update.ALGORITHMS_END, update.conv_algorithms_section),
                           (update.TTA_START, update.TTA_END, update.time_to_accuracy_section)):
    assert update._replace(text, start, end, make()) == text, f"run scripts/update_readme.py ({start})"
