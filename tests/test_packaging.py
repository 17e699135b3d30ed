"""pyproject.toml's requirements: every package cnnjax imports is declared, and TensorFlow resolves on every platform.

Why: a package imported by cnnjax but listed only in the [test] extra works in the checkout and fails
for `pip install cnnjax`; tensorflow-cpu has no wheel for macOS arm64 or aarch64 Linux, so requiring
it there makes the whole install fail. tests/test_wheel.py installs the wheel itself (slow).
"""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
# Where each TensorFlow distribution has wheels (checked on PyPI for 2.18 to 2.21).
TENSORFLOW = {("linux", "x86_64"): "tensorflow-cpu", ("win32", "AMD64"): "tensorflow-cpu",
              ("linux", "aarch64"): "tensorflow", ("darwin", "arm64"): "tensorflow"}


def _requirements() -> list[Requirement]:
  return [Requirement(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]


def _canonical(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_names() -> set[str]:
  names = set()
  for path in (REPO / "cnnjax").rglob("*.py"):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Import):
        names |= {alias.name.split(".")[0] for alias in node.names}
      elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names.add(node.module.split(".")[0])
  return names - set(sys.stdlib_module_names) - {"cnnjax"}


def test_every_package_cnnjax_imports_is_a_runtime_dependency():
  required = {_canonical(r.name) for r in _requirements()}
  providers = importlib.metadata.packages_distributions()
  imported = _imported_top_level_names()
  assert {"jax", "flax", "tensorflow", "matplotlib"} <= imported
  undeclared = {name: providers.get(name) for name in sorted(imported)
                if not {_canonical(d) for d in providers.get(name, [])} & required}
  assert not undeclared, f"imported by cnnjax but not in pyproject.toml's dependencies: {undeclared}"


@pytest.mark.parametrize("platform", sorted(TENSORFLOW), ids="-".join)
def test_exactly_one_tensorflow_with_a_wheel_on_each_platform(platform):
  environment = {**default_environment(), "sys_platform": platform[0], "platform_machine": platform[1]}
  chosen = [r.name for r in _requirements() if r.name.startswith("tensorflow") and r.name != "tensorflow-datasets"
            and (r.marker is None or r.marker.evaluate(environment))]
  assert chosen == [TENSORFLOW[platform]]
