"""The wheel alone runs `cnnjax lecture` and `cnnjax reproduce` from a folder outside the checkout.

Why: code under cnnjax/ that reaches into experiments/ or the checkout works in the repository and
fails once installed; only a wheel installed apart from the checkout shows it. Slow (a wheel build,
an install and a few fresh interpreters): `python -m pytest -m slow tests/test_wheel.py`.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The build reads a copy of the checkout: a build in place would leave build/ and *.egg-info in the checkout
# and put stale files from an earlier build/lib into the wheel.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    "runs", "results", "reports")
# Imported first by the interpreter (sitecustomize on PYTHONPATH): the checkout's folders cannot be imported even
# through an editable install's finder, and every cnnjax module file loaded is appended to $CNNJAX_TEST_RECORD.
GUARD = '''
import atexit, json, os, sys
for name in ("experiments", "benchmarks", "scripts"):
  sys.modules[name] = None

def _record():
  files = sorted(m.__file__ for n, m in list(sys.modules.items())
                 if m is not None and (n == "cnnjax" or n.startswith("cnnjax.")) and getattr(m, "__file__", None))
  with open(os.environ["CNNJAX_TEST_RECORD"], "a") as f:
    f.write(json.dumps(files) + "\\n")

atexit.register(_record)
'''


def _run(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
  result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
  assert result.returncode == 0, (f"{' '.join(command)} exited {result.returncode}:\n"
                                  f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
  return result


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
  """A folder holding only the installed wheel of this checkout (cnnjax and its dist-info)."""
  tmp = tmp_path_factory.mktemp("wheel")
  shutil.copytree(REPO, tmp / "src", ignore=NOT_COPIED)
  # No build isolation: the interpreter's own setuptools builds it, so the test needs no package index.
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
        str(tmp / "src")], timeout=600)
  wheels = list((tmp / "dist").glob("cnnjax-*.whl"))
  assert len(wheels) == 1, wheels
  _run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(tmp / "site"), str(wheels[0])],
       timeout=600)
  packages = sorted(p.name for p in (tmp / "site").iterdir() if p.name != "bin" and not p.name.endswith(".dist-info"))
  assert packages == ["cnnjax"], f"the wheel should hold the cnnjax package only, it holds {packages}"
  return tmp / "site"


def _cnnjax(site: Path, cwd: Path, *args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess, list]:
  """`python -m cnnjax.main ARGS` in `cwd` with only `site` (and the guard) on PYTHONPATH; the cnnjax files it loaded."""
  guard = cwd.parent / "guard"
  guard.mkdir(exist_ok=True)
  (guard / "sitecustomize.py").write_text(GUARD)
  record = cwd.parent / f"record_{len(list(cwd.parent.glob('record_*')))}.jsonl"
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
  env.update(PYTHONPATH=os.pathsep.join([str(guard), str(site)]), CNNJAX_TEST_RECORD=str(record),
             TFDS_DATA_DIR=str(cwd.parent / "tfds"))
  result = _run([sys.executable, "-m", "cnnjax.main", *args], timeout=timeout, cwd=cwd, env=env)
  files = [f for line in record.read_text().splitlines() for f in json.loads(line)]
  return result, files


def _assert_from(site: Path, files: list[str], module: str) -> None:
  assert files, "the command imported no cnnjax module"
  outside = [f for f in files if not Path(f).resolve().is_relative_to(site.resolve())]
  assert not outside, f"cnnjax modules imported from outside the installed wheel: {outside}"
  assert (site / module).resolve() in {Path(f).resolve() for f in files}, f"{module} was not imported"


@pytest.mark.slow
def test_lecture_runs_from_the_wheel_outside_the_checkout(site, tmp_path):
  work = tmp_path / "work"
  work.mkdir()
  _, files = _cnnjax(site, work, "lecture", "--only", "arithmetic")
  _assert_from(site, files, "cnnjax/lecture/arithmetic.py")
  out = work / "reports" / "lecture"  # the default --out, relative to the current directory
  assert list(json.loads((out / "results.json").read_text())["sections"]) == ["arithmetic"]
  assert (out / "README.md").read_text().count("](cnn_output_sizes.png)") == 1


@pytest.mark.slow
def test_reproduce_runs_from_the_wheel_outside_the_checkout(site, tmp_path):
  work = tmp_path / "work"
  work.mkdir()
  result, files = _cnnjax(site, work, "reproduce", "--help", timeout=120)
  assert "--configs" in result.stdout
  _assert_from(site, files, "cnnjax/commands/reproduce.py")
  result, files = _cnnjax(site, work, "reproduce", "mnist1d", "--quick", "--seeds", "1", "--rows", "linear",
                          "--configs", str(REPO / "configs"), "--out", "quick")
  _assert_from(site, files, "cnnjax/reproduce/runs.py")
  summary = json.loads((work / "quick" / "summary.json").read_text())
  assert [row["row"] for row in summary["rows"]] == ["linear"] and len(summary["rows"][0]["values"]) == 1
