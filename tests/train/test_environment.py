"""cnnjax.train.environment: what results.json says a run ran on, from a checkout and from an installed wheel."""

import subprocess

from cnnjax.train import environment


def _git(folder, *args: str) -> str:
  return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                        capture_output=True, text=True).stdout.strip()


def test_an_installed_cnnjax_records_no_commit_of_the_repository_around_it(monkeypatch, tmp_path):
  """A project's .venv inside the user's own git repository: that repository's commit is not cnnjax's."""
  _git(tmp_path, "init", "-q")
  (tmp_path / "notes.txt").write_text("the user's project\n")
  _git(tmp_path, "add", "notes.txt")
  _git(tmp_path, "commit", "-q", "-m", "theirs")
  site = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages"
  site.mkdir(parents=True)
  monkeypatch.setattr(environment, "CHECKOUT", site)
  assert environment.git_commit() is None
  (site / "pyproject.toml").write_text("")  # as in a checkout of cnnjax
  assert environment.git_commit() == _git(tmp_path, "rev-parse", "HEAD")


def test_versions_name_cnnjax_and_whichever_tensorflow_is_installed():
  versions = environment.describe_environment()["versions"]
  assert versions["cnnjax"] and versions["jax"]
  assert versions["tensorflow-cpu"] or versions["tensorflow"]
