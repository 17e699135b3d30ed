"""Dependencies point down only: no module of cnnjax imports the checkout's other folders or edits sys.path.

Why: a wheel holds the cnnjax package alone, so an import of experiments/ (or a sys.path entry
pointing at the checkout) works in the repository and fails everywhere the wheel is installed.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnjax"
# Top-level folders of the checkout that the wheel does not hold; cnnjax may be imported by them, never the reverse.
CHECKOUT_ONLY = ("experiments", "benchmarks", "scripts", "tests", "configs")
IMPORT_FUNCTIONS = ("import_module", "__import__")


def _dotted(node: ast.AST) -> str:
  """"sys.path" for the expression sys.path, "" for anything that is not a chain of names."""
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    parent = _dotted(node.value)
    return f"{parent}.{node.attr}" if parent else ""
  return ""


def _is_checkout_only(module: str) -> bool:
  return module.split(".")[0] in CHECKOUT_ONLY


def upward_references(source: str, filename: str = "<source>") -> list[str]:
  """Lines of `source` that import a checkout-only package or touch sys.path, as "file:line what"."""
  found = []
  for node in ast.walk(ast.parse(source, filename)):
    where = f"{filename}:{getattr(node, 'lineno', '?')}"
    if isinstance(node, ast.Import):
      found += [f"{where} imports {a.name}" for a in node.names if _is_checkout_only(a.name)]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      if _is_checkout_only(node.module):
        found.append(f"{where} imports from {node.module}")
      elif node.module == "sys" and any(a.name == "path" for a in node.names):
        found.append(f"{where} imports sys.path")
    elif isinstance(node, ast.Call):
      name = _dotted(node.func).rsplit(".", 1)[-1]
      first = node.args[0] if node.args else None
      if (name in IMPORT_FUNCTIONS and isinstance(first, ast.Constant) and isinstance(first.value, str)
          and _is_checkout_only(first.value)):
        found.append(f"{where} imports {first.value} dynamically")
      if _dotted(node.func) == "site.addsitedir":
        found.append(f"{where} calls site.addsitedir")
    elif isinstance(node, ast.Attribute) and _dotted(node) == "sys.path":
      found.append(f"{where} uses sys.path")
  return found


def _modules() -> list[Path]:
  return sorted(PACKAGE.rglob("*.py"))


def test_the_whole_package_is_checked():
  names = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
  assert len(names) > 50 and {"main.py", "commands/lecture.py", "commands/reproduce.py"} <= names


def test_no_module_of_cnnjax_imports_the_checkout():
  found = [line for path in _modules()
           for line in upward_references(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
  assert not found, ("cnnjax must not depend on the checkout's other folders (a wheel holds cnnjax only); "
                     "move what it needs into cnnjax:\n" + "\n".join(found))


@pytest.mark.parametrize("source", [
    "import experiments.lecture.build",
    "from experiments.reproduce import runs",
    "from experiments import reproduce",
    "import benchmarks.machine as m",
    "def f():\n  from tests.conftest import REPO",
    "import importlib\nimportlib.import_module('experiments.lecture')",
    "__import__('experiments')",
    "import sys\nsys.path.insert(0, '/repo')",
    "import sys\nsys.path = ['/repo'] + sys.path",
    "from sys import path",
    "import site\nsite.addsitedir('/repo')",
])
def test_each_kind_of_upward_reference_is_caught(source):
  assert len(upward_references(source)) >= 1


def test_downward_imports_pass():
  source = ("import sys\nimport importlib\nfrom cnnjax.lecture import build\nimport experimental_lib\n"
            "importlib.import_module('cnnjax.models')\nsys.exit(0)\n")
  assert upward_references(source) == []


# Packages the models must not reach: platform speed is chosen outside them (cnnjax.fast.blocks) and
# passed in through their block fields, so every model stays plain flax on any backend.
MODEL_FORBIDDEN = ("cnnjax.fast", "cnnjax.kernels", "cnnjax.train", "cnnjax.parallel", "cnnjax.data")


def imported_modules(source: str) -> set[str]:
  """Every module an `import` or `from ... import` statement of `source` names (absolute imports)."""
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
  return names


def test_models_import_no_fast_paths_nor_the_layers_above_them():
  found = [f"{path.name} imports {name}" for path in sorted((PACKAGE / "models").glob("*.py"))
           for name in sorted(imported_modules(path.read_text()))
           if any(name == f or name.startswith(f + ".") for f in MODEL_FORBIDDEN)]
  assert not found, "models must stay plain flax; inject fast blocks through their fields:\n" + "\n".join(found)


def test_model_files_name_no_fast_path():
  """The issue's check: grep -rE "cpu_conv|onednn|small_conv|fused_norm_relu|BatchNormReLU" cnnjax/models."""
  words = ("cpu_conv", "onednn", "small_conv", "fused_norm_relu", "BatchNormReLU")
  found = [f"{p.name}: {w}" for p in sorted((PACKAGE / "models").glob("*.py")) for w in words
           if w in p.read_text()]
  assert not found, found


def test_a_fast_path_import_in_a_model_is_caught():
  assert imported_modules("from cnnjax.fast import blocks") >= {"cnnjax.fast.blocks"}


# The README's layout, top to bottom: a module may import its own layer and those above it only.
LAYERS = ("errors", "kernels", "layers", "boxes", "segmentation", "models", "weights", "fast", "data", "parallel",
          "train", "serving", "scaling", "analysis", "lecture", "reproduce", "commands", "main", "__main__")


def cnnjax_layer_imports(source: str) -> set[str]:
  """The top-level cnnjax layers (packages or modules under cnnjax/) that `source` imports, anywhere in it."""
  return {name.split(".")[1] for name in imported_modules(source) if name.startswith("cnnjax.")}


def test_layers_import_only_the_layers_above_them():
  found = []
  for path in _modules():
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own == "__init__":
      continue
    assert own in LAYERS, f"cnnjax/{own} is not placed in LAYERS (and the README's layout)"
    found += [f"{path.relative_to(PACKAGE.parent)} imports cnnjax.{layer}" for layer in cnnjax_layer_imports(
        path.read_text()) if layer in LAYERS and LAYERS.index(layer) > LAYERS.index(own)]
  assert not found, "dependencies point down only (README, Layout):\n" + "\n".join(found)
