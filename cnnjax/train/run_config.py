"""A workdir's config.json: which changes a resumed run may take, and writing it once the run is known to be valid.

Why: config.json names the run its checkpoints and metrics belong to. A resume with another model, data,
optimizer, schedule, length, seed or augmentation would quietly make a run that no config describes, so it
is refused (config.json untouched) unless config.allow_config_change is True; then config.json takes the new
config and config_changes.jsonl records what changed at which step. Keys that change only how a run is
watched, saved or computed (HARMLESS) may change freely.
"""

import datetime
import json
from pathlib import Path

from cnnjax.errors import InputError
from cnnjax.train import checkpoint, config as config_lib

# Keys (and sections) whose change leaves the run's numbers alone: logging, evaluation cadence and batching
# (evaluation pads and masks, so every example counts once at any batch size), checkpoint cadence, where the
# dataset is stored and whether it is cached, and how the same step is computed (fast paths, XLA flags).
HARMLESS = ("log_every_steps", "progress_bar", "eval_batch_size", "eval_every_epochs", "checkpoint_every_steps",
            "keep_checkpoints", "resume_from_step", "fast_paths", "xla_cpu_multi_output_fusion",
            "allow_config_change", "dataset.data_dir", "dataset.cache")
CONFIG_FILE = "config.json"
CHANGES_FILE = "config_changes.jsonl"


def is_harmless(key: str) -> bool:
  return any(key == h or key.startswith(h + ".") for h in HARMLESS)


def _show(value) -> str:
  return repr(value) if value is config_lib.ABSENT else json.dumps(value)


def describe(differences) -> list[str]:
  """One line per key: `key: saved -> given`."""
  return [f"{key}: {_show(saved)} -> {_show(given)}" for key, saved, given in differences]


def check_resume(workdir: str | Path, config) -> list[tuple[str, object, object]]:
  """The differences between `workdir`'s config.json and `config` (none for a new workdir).

  Raises InputError, naming each changed key as `key: saved -> given` and the fix, when the workdir holds
  checkpoints to resume, config.resume_from_step is not 0 (which starts afresh) and a key outside HARMLESS
  differs, unless config.allow_config_change is True (a permission for this start, itself never a difference).
  Reads only: config.json stays as it is.
  """
  workdir = Path(workdir)
  path = workdir / CONFIG_FILE
  if not path.exists():
    return []
  try:
    stored = json.loads(path.read_text())
  except (OSError, ValueError) as e:
    raise InputError(f"{path} cannot be read ({e}); restore it or use a new --workdir") from e
  differences = [d for d in config_lib.config_differences(stored, config) if d[0] != "allow_config_change"]
  altering = [d for d in differences if not is_harmless(d[0])]
  resuming = config.resume_from_step != 0 and checkpoint.has_saved_steps(workdir)
  if altering and resuming and not config.allow_config_change:
    lines = describe(altering)
    raise InputError(
        f"--workdir {workdir} holds a run of another config; its {CONFIG_FILE} differs in keys that change the "
        "run (saved -> given):\n  " + ";\n  ".join(lines) + ".\n"
        "Resume it with these changes by adding --config.allow_config_change=true (recorded in "
        f"{CHANGES_FILE}), or use a new --workdir; {CONFIG_FILE} is unchanged")
  return differences


def write(workdir: str | Path, config, differences, step: int) -> None:
  """Writes `config` as the workdir's config.json; records `differences` (from check_resume) in
  config_changes.jsonl with the step the run goes on from. Called once the run is known to be valid."""
  workdir = Path(workdir)
  (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2) + "\n")
  if not differences:
    return
  record = {
      "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "step": step,
      "changes": {key: {"saved": None if saved is config_lib.ABSENT else saved,
                        "given": None if given is config_lib.ABSENT else given}
                  for key, saved, given in differences},
      "run_altering": [key for key, _, _ in differences if not is_harmless(key)],
  }
  with open(workdir / CHANGES_FILE, "a") as f:
    f.write(json.dumps(record) + "\n")
