"""cnnjax.kernels.build: native libraries build into the user's cache on first use, and a fallback is said.

Why: a wheel installs sources only, and site-packages may be read-only; a library that cannot be built
must leave one line on stderr saying why and what runs instead, never a silent fallback.
"""

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from cnnjax.kernels import build


def test_libraries_live_in_the_user_cache_not_the_package(monkeypatch, tmp_path):
  monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "mine"))
  for target in build.TARGETS:
    path = build.library_path(target)
    assert path.parent == tmp_path / "mine" / "kernels" and path.name.startswith(build.TARGETS[target].name + "-")
    assert not path.is_relative_to(build.HERE)
  monkeypatch.delenv(build.CACHE_ENV)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert build.library_path("onednn").parent == tmp_path / "xdg" / "cnnjax" / "kernels"
  monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says to ignore relative paths
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert build.library_path("onednn").parent == tmp_path / "home" / ".cache" / "cnnjax" / "kernels"


def test_the_file_name_changes_with_the_source_and_jaxlib(monkeypatch, tmp_path):
  """Checkouts and versions sharing one cache never load each other's build."""
  monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
  for target in build.TARGETS:
    source = tmp_path / build.TARGETS[target].source.name
    shutil.copy(build.TARGETS[target].source, source)
    monkeypatch.setitem(build.TARGETS, target, dataclasses.replace(build.TARGETS[target], source=source))
  before = {target: build.library_path(target) for target in build.TARGETS}
  assert before["onednn"] != before["scratch_cache"]
  with open(build.TARGETS["scratch_cache"].source, "a", encoding="utf-8") as f:
    f.write("/* edited */\n")
  assert build.library_path("scratch_cache") != before["scratch_cache"]
  assert build.library_path("onednn") == before["onednn"]
  monkeypatch.setattr(build, "_version", lambda package: "0.0.1")
  assert build.library_path("onednn") != before["onednn"]  # jaxlib's FFI headers are compiled in


def test_ensure_builds_on_first_use_then_reuses(monkeypatch, tmp_path, capsys):
  if shutil.which("gcc") is None:
    if os.environ.get("CI"):
      pytest.fail("gcc missing under CI")
    pytest.skip("gcc not found")
  monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "cache"))
  path, reason = build.ensure("scratch_cache")
  assert reason is None and path == build.library_path("scratch_cache") and path.stat().st_size > 1000
  err = capsys.readouterr().err.splitlines()
  assert len(err) == 1 and err[0].startswith("cnnjax: building the scratch cache into ") and str(path.parent) in err[0]
  assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
  assert build.ensure("scratch_cache") == (path, None)
  assert capsys.readouterr().err == ""


def test_without_a_compiler_the_notice_says_why_and_what_runs_instead(monkeypatch, tmp_path, capsys):
  monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.setattr(build.shutil, "which", lambda name: None)
  path, reason = build.ensure("scratch_cache")
  assert path is None and reason == "gcc not found: apt-get install gcc"
  assert not (tmp_path / "cache").exists() and capsys.readouterr().err == ""  # no "building" line: nothing to build
  line = build.notice("onednn", "g++ not found: apt-get install g++ libdnnl-dev")
  assert line == ("cnnjax: oneDNN convolutions unavailable (g++ not found: apt-get install g++ libdnnl-dev); "
                  "XLA's convolutions are used (same values, slower gradients). CNNJAX_ONEDNN=0 opts out and "
                  "hides this line.")


def test_an_unwritable_cache_names_the_variable_that_moves_it(monkeypatch, tmp_path):
  (tmp_path / "a_file").write_text("")
  monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "a_file" / "cache"))
  monkeypatch.setattr(build.shutil, "which", lambda name: "/usr/bin/" + name)
  _, reason = build.ensure("scratch_cache")
  assert reason.startswith(f"cannot create {tmp_path / 'a_file' / 'cache' / 'kernels'}") and build.CACHE_ENV in reason


def test_onednn_says_once_why_it_is_off(monkeypatch, capsys):
  from cnnjax.kernels import onednn
  monkeypatch.setattr(build, "ensure", lambda target: (None, "g++ not found: apt-get install g++ libdnnl-dev"))
  assert onednn._library.__wrapped__() == (None, "g++ not found: apt-get install g++ libdnnl-dev")
  err = capsys.readouterr().err.splitlines()
  assert err == [build.notice("onednn", "g++ not found: apt-get install g++ libdnnl-dev")]
  assert onednn.DISABLE_ENV == "CNNJAX_ONEDNN"


def test_python_m_build_reports_each_library(monkeypatch, tmp_path, capsys):
  monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
  monkeypatch.setattr(build.shutil, "which", lambda name: None)
  monkeypatch.setattr(build.sys, "argv", ["build.py"])
  assert build.main() == 0
  monkeypatch.setattr(build.sys, "argv", ["build.py", "--strict"])
  assert build.main() == 1
  err = capsys.readouterr().err
  assert "oneDNN convolutions not built (g++ not found" in err and "scratch cache not built (gcc not found" in err
  assert not any(Path(tmp_path).iterdir())
