"""Where the `cnnjax` command puts JAX's persistent compilation cache, and how it is switched off or moved."""

import os
from pathlib import Path

from cnnjax.fast import compilation_cache as cc


def test_default_folder_is_under_the_cnnjax_cache(tmp_path, monkeypatch):
  monkeypatch.setenv("CNNJAX_CACHE_DIR", str(tmp_path / "cache"))
  environ = {}
  assert cc.set_environment(environ) == tmp_path / "cache" / "jax_compilation"
  assert environ == {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache" / "jax_compilation"),
                     "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                     "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
  assert not (tmp_path / "cache").exists()  # JAX creates it when it first compiles: a failed command leaves none


def test_switched_off_sets_and_creates_nothing(tmp_path, monkeypatch):
  monkeypatch.setenv("CNNJAX_CACHE_DIR", str(tmp_path / "cache"))
  environ = {"CNNJAX_COMPILATION_CACHE": "0"}
  assert cc.set_environment(environ) is None
  assert environ == {"CNNJAX_COMPILATION_CACHE": "0"} and not (tmp_path / "cache").exists()
  environ = {"CNNJAX_COMPILATION_CACHE": "0", "JAX_COMPILATION_CACHE_DIR": "/mine"}  # JAX's own setting stays JAX's
  assert cc.set_environment(environ) is None and environ == {"CNNJAX_COMPILATION_CACHE": "0",
                                                              "JAX_COMPILATION_CACHE_DIR": "/mine"}


def test_relocated_and_the_users_own_settings_win(tmp_path):
  environ = {"CNNJAX_COMPILATION_CACHE": str(tmp_path / "elsewhere")}
  assert cc.set_environment(environ) == tmp_path / "elsewhere"
  assert environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "elsewhere")
  environ = {"JAX_COMPILATION_CACHE_DIR": "/mine", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "2",
             "CNNJAX_COMPILATION_CACHE": str(tmp_path / "ignored")}
  assert cc.set_environment(environ) == Path("/mine")
  assert environ["JAX_COMPILATION_CACHE_DIR"] == "/mine" and environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "2"
  assert environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] == "-1" and not (tmp_path / "ignored").exists()


def test_an_unusable_folder_turns_the_cache_off_with_one_line(tmp_path, capsys):
  (tmp_path / "file").write_text("")
  (tmp_path / "locked").mkdir(mode=0o500)
  for folder in (tmp_path / "file" / "cache", tmp_path / "locked" / "a" / "b"):  # under a file; not writable
    environ = {"CNNJAX_COMPILATION_CACHE": str(folder)}
    assert cc.set_environment(environ) is None and "JAX_COMPILATION_CACHE_DIR" not in environ
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "compilation cache off" in err and "CNNJAX_COMPILATION_CACHE=0" in err
    if os.geteuid() == 0:  # root writes anywhere: only the file case applies
      break
  assert cc.unwritable(tmp_path / "new" / "deeper") is None and not (tmp_path / "new").exists()
