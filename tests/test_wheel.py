"""The wheel, installed into a fresh virtual environment outside the checkout, runs the `cnnjax` commands.

Why: code under cnnjax/ that reaches into the checkout (experiments/, configs/, a build folder inside
the package) works in the repository and fails once installed; only a wheel installed apart from the
checkout shows it. Slow (a wheel build, an install and a few training runs): `scripts/test.sh -m slow`
or `python -m pytest -m slow tests/test_wheel.py`. No network: the venv reuses this interpreter's
installed dependencies (a .pth line) and the wheel is installed with --no-deps --no-index.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import types
import zipfile
from pathlib import Path

import pytest

from cnnjax.data import fashion_mnist_archives
from cnnjax.kernels import build

REPO = Path(__file__).resolve().parents[1]
# The build reads a copy of the checkout: a build in place would leave build/ and *.egg-info in the checkout
# and put stale files from an earlier build/lib into the wheel.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    "runs", "results", "reports", "_build")
# Imported first by the interpreter (sitecustomize on PYTHONPATH): the checkout's folders cannot be imported even
# through an editable install's finder, and every cnnjax module file loaded is appended to $CNNJAX_TEST_RECORD.
GUARD = '''
import atexit, json, os, sys
for name in ("experiments", "benchmarks", "scripts", "configs"):
  sys.modules[name] = None

def _record():
  files = sorted(m.__file__ for n, m in list(sys.modules.items())
                 if m is not None and (n == "cnnjax" or n.startswith("cnnjax.")) and getattr(m, "__file__", None))
  with open(os.environ["CNNJAX_TEST_RECORD"], "a") as f:
    f.write(json.dumps(files) + "\\n")

atexit.register(_record)
'''


def _run(command: list, timeout: float, expect: int = 0, **kwargs) -> subprocess.CompletedProcess:
  result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs)
  assert result.returncode == expect, (f"{' '.join(map(str, command))} exited {result.returncode}:\n"
                                  f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
  return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
  """The wheel built from a copy of this checkout."""
  tmp = tmp_path_factory.mktemp("wheel")
  shutil.copytree(REPO, tmp / "src", ignore=NOT_COPIED)
  # No build isolation: the interpreter's own setuptools builds it, so the test needs no package index.
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist",
        tmp / "src"], timeout=600)
  wheels = list((tmp / "dist").glob("cnnjax-*.whl"))
  assert len(wheels) == 1, wheels
  return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> types.SimpleNamespace:
  """A fresh venv outside the checkout holding the wheel, with this interpreter's dependencies on its path."""
  root = tmp_path_factory.mktemp("venv")
  _run([sys.executable, "-m", "venv", "--without-pip", root / "venv"], timeout=120)
  python = root / "venv" / "bin" / "python"
  site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60).stdout.strip())
  # A path line, not a site dir: the .pth files there (this checkout's editable install) are not run.
  dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
  (site / "zz_cnnjax_test_dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
  _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], timeout=600)
  return types.SimpleNamespace(root=root, bin=root / "venv" / "bin", site=site,
                               package_files=_files(site / "cnnjax"))


def _files(folder: Path) -> set[str]:
  return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_wheel_holds_cnnjax_with_its_configs_and_nothing_else(wheel):
  names = zipfile.ZipFile(wheel).namelist()
  top = sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")})
  assert top == ["cnnjax"], f"the wheel should hold the cnnjax package only, it holds {top}"
  expected = {f"cnnjax/{p.relative_to(REPO / 'cnnjax').as_posix()}" for p in (REPO / "cnnjax").rglob("*.py")}
  expected |= {f"cnnjax/configs/{p.name}" for p in (REPO / "configs").glob("*.py")}
  expected |= {"cnnjax/kernels/onednn_conv.cc", "cnnjax/kernels/scratch_cache.c"}
  assert expected <= set(names), f"missing from the wheel: {sorted(expected - set(names))}"
  assert not [n for n in names if n.endswith(".so")], "compiled libraries belong in the user's cache, not the wheel"


def _cnnjax(venv, cwd: Path, *args: str, timeout: float = 600, expect: int = 0, **environ: str
            ) -> tuple[subprocess.CompletedProcess, list]:
  """The venv's `cnnjax ARGS` in `cwd` (with `environ` set), the checkout nowhere on the path; the cnnjax files it
  loaded."""
  guard = venv.root / "guard"
  guard.mkdir(exist_ok=True)
  (guard / "sitecustomize.py").write_text(GUARD)
  record = venv.root / f"record_{len(list(venv.root.glob('record_*')))}.jsonl"
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "LD_PRELOAD",
                                                          "GLIBC_TUNABLES", "VIRTUAL_ENV", "CNNJAX_ONEDNN",
                                                          "CNNJAX_SCRATCH_CACHE")}
  env.update(PYTHONPATH=str(guard), CNNJAX_TEST_RECORD=str(record), TFDS_DATA_DIR=str(venv.root / "tfds"),
             CNNJAX_CACHE_DIR=str(venv.root / "cache"), PATH=os.pathsep.join([str(venv.bin), env.get("PATH", "")]))
  env.update(environ)
  result = _run([venv.bin / "cnnjax", *args], timeout=timeout, expect=expect, cwd=cwd, env=env)
  files = [f for line in record.read_text().splitlines() for f in json.loads(line)]
  return result, files


def _assert_from(venv, files: list[str], module: str) -> None:
  assert files, "the command imported no cnnjax module"
  outside = [f for f in files if not Path(f).resolve().is_relative_to(venv.site.resolve())]
  assert not outside, f"cnnjax modules imported from outside the installed wheel: {outside}"
  assert (venv.site / module).resolve() in {Path(f).resolve() for f in files}, f"{module} was not imported"


def _work(tmp_path: Path) -> Path:
  work = tmp_path / "work"
  work.mkdir()
  return work


@pytest.mark.slow
def test_lecture_runs_from_the_wheel_outside_the_checkout(venv, tmp_path):
  work = _work(tmp_path)
  _, files = _cnnjax(venv, work, "lecture", "--only", "arithmetic")
  _assert_from(venv, files, "cnnjax/lecture/arithmetic.py")
  out = work / "reports" / "lecture"  # the default --out, relative to the current directory
  assert list(json.loads((out / "results.json").read_text())["sections"]) == ["arithmetic"]
  assert (out / "README.md").read_text().count("](cnn_output_sizes.png)") == 1


@pytest.mark.slow
def test_reproduce_reads_the_shipped_configs_outside_the_checkout(venv, tmp_path):
  work = _work(tmp_path)  # no configs/ here: the study reads the wheel's cnnjax/configs
  result, files = _cnnjax(venv, work, "reproduce", "--help", timeout=120)
  assert "--configs" in result.stdout
  _assert_from(venv, files, "cnnjax/commands/reproduce.py")
  _, files = _cnnjax(venv, work, "reproduce", "mnist1d", "--quick", "--seeds", "1")
  _assert_from(venv, files, "cnnjax/reproduce/runs.py")
  summary = json.loads((work / "reports" / "mnist1d_quick" / "summary.json").read_text())
  assert [row["row"] for row in summary["rows"]] == ["linear", "mlp", "cnn"]
  assert all(len(row["values"]) == 1 for row in summary["rows"]) and summary["determinism"]["identical"]


@pytest.mark.slow
def test_train_by_config_name_outside_the_checkout(venv, tmp_path):
  """The default experiment by name, Fashion-MNIST prepared offline by the wheel; native code in the user's cache."""
  if not (fashion_mnist_archives.DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists():
    if os.environ.get("CI"):
      pytest.fail(f"{fashion_mnist_archives.DEBIAN_PACKAGE} missing under CI (scripts/setup.sh installs it)")
    pytest.skip(f"Fashion-MNIST offline needs Debian's {fashion_mnist_archives.DEBIAN_PACKAGE}")
  work = _work(tmp_path)
  result, files = _cnnjax(venv, work, "train", "--config", "fashion_mnist_lenet5", "--workdir", "run",
                          "--config.num_train_steps=20")
  _assert_from(venv, files, "cnnjax/train/runner.py")
  results = json.loads((work / "run" / "results.json").read_text())
  assert results["config"]["model"] == "lenet5" and results["config"]["num_train_steps"] == 20
  assert results["final"]["steps"] == 20 and 0.1 < results["final"]["test_accuracy"] <= 1.0
  assert "test accuracy:" in result.stdout

  assert _files(venv.site / "cnnjax") == venv.package_files, "running wrote into the installed package"
  built = {p.name.split("-")[0] for p in (venv.root / "cache" / "kernels").glob("*.so")}
  # Each native library is built into the user's cache on first use, or its absence is said on stderr.
  said = {spec.name: f"cnnjax: {spec.purpose} unavailable (" in result.stderr for spec in build.TARGETS.values()}
  assert ("libcnnjax_scratch_cache" in built) != said["libcnnjax_scratch_cache"], result.stderr[-2000:]
  onednn = results["environment"]["fast_paths"]["onednn_convolutions"]
  if "backend" not in onednn:  # the CPU: the fast path applies (on any number of devices)
    assert (onednn == "on") == ("libcnnjax_onednn" in built) != said["libcnnjax_onednn"], (onednn, result.stderr)


@pytest.mark.slow
def test_an_unknown_config_name_and_a_missing_compiler_are_one_line_each(venv, tmp_path):
  work = _work(tmp_path)
  result, _ = _cnnjax(venv, work, "train", "--config", "fashion_mnist_lenet", "--workdir", "run", expect=2,
                      PATH=str(venv.bin), CNNJAX_CACHE_DIR=str(tmp_path / "empty_cache"))  # no gcc on PATH
  errors = [line for line in result.stderr.splitlines() if line.startswith("cnnjax train:")]
  assert len(errors) == 1 and "did you mean fashion_mnist_lenet5" in errors[0], result.stderr
  assert result.stderr.splitlines() == [build.notice("scratch_cache", "gcc not found: apt-get install gcc"), errors[0]]
  assert not (work / "run").exists() and not (tmp_path / "empty_cache").exists()
