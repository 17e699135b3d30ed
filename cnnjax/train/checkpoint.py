"""Orbax checkpoints in the workdir that cannot lie: every step carries sha256 digests of its arrays.

A step whose data no longer matches its digests (or cannot be read at all) is moved aside into
`rejected_checkpoints/`, never deleted, and the previous good step is used; training then writes
that step afresh when it reaches it again. Interrupted saves leave only orbax's temporary folders,
which are removed on start.
"""

import collections
import dataclasses
import datetime
import gc
import hashlib
import logging
import shutil
import sys
import traceback
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from cnnjax.errors import InputError, RunFailure

log = logging.getLogger(__name__)

STATE_ITEM = "default"    # orbax's name for a single item: checkpoints written before digests restore too
DIGESTS_ITEM = "digests"
_TMP_MARKER = ".orbax-checkpoint-tmp"


class CheckpointError(InputError):
  """No checkpoint in the workdir can be used (corrupt, or saved by a different model)."""


class CheckpointSaveError(RunFailure):
  """A checkpoint could not be written (disk full, permissions); earlier steps are intact."""


def array_digests(state) -> dict[str, str]:
  """sha256 of every array in `state` (its dtype, shape and bytes), keyed by tree path ('params/conv1/kernel')."""
  digests = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(state):
    value = _host_copy(leaf)
    h = hashlib.sha256(f"{value.dtype.str}{value.shape}".encode())
    h.update(np.ascontiguousarray(value).tobytes())
    digests[_path_name(path)] = h.hexdigest()
  return digests


def _path_name(path) -> str:
  """'params/conv1/kernel': the same for a TrainState and for the nested dicts it restores to without a target."""
  return "/".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def _host_copy(leaf) -> np.ndarray:
  """This process's full copy of a replicated (or fully addressable) array."""
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    return np.asarray(leaf.addressable_shards[0].data)
  return np.asarray(jax.device_get(leaf))


def _one_line(error: BaseException) -> str:
  """The gist of an error: its type and the system's reason (e.g. 'No space left') or its first 200 characters."""
  text = " ".join(str(error).split())
  reason = text.rsplit(": ", 1)[-1]
  return f"{type(error).__name__}: {reason if 0 < len(reason) < 80 else text[:200]}"


class _OrbaxNoiseFilter:
  """Keeps orbax's own reports of failures that the Checkpointer reports in one line off the terminal:
  its logged tracebacks of failed saves, and the asyncio leftovers of failed reads ("Exception ignored
  in: <coroutine ...>", "Event loop is closed") that surface later, when they are garbage-collected.
  Everything else passes through."""

  def __init__(self):
    self._previous_hook = None

  @staticmethod
  def _keep_record(record: logging.LogRecord) -> bool:
    return not (record.levelno >= logging.ERROR and "orbax" in record.pathname)

  def _unraisable(self, unraisable) -> None:
    frames = traceback.extract_tb(unraisable.exc_traceback) if unraisable.exc_traceback else []
    if "Event loop is closed" in str(unraisable.exc_value) or any("orbax" in f.filename for f in frames):
      return
    self._previous_hook(unraisable)

  def install(self) -> None:
    logging.getLogger("absl").addFilter(self._keep_record)
    self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable

  def uninstall(self) -> None:
    gc.collect()  # reports of objects already dead arrive now, while filtered
    logging.getLogger("absl").removeFilter(self._keep_record)
    if sys.unraisablehook == self._unraisable:
      sys.unraisablehook = self._previous_hook


def checkpoint_directory(workdir: str | Path) -> Path:
  """Where a run in `workdir` keeps its checkpoints (one folder per saved step)."""
  return Path(workdir).absolute() / "checkpoints"


def has_saved_steps(workdir: str | Path) -> bool:
  """Whether `workdir` holds a saved step to resume, without starting orbax (unfinished saves do not count)."""
  folder = checkpoint_directory(workdir)
  return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


def _without_new_empty_fields(abstract_state, saved_fields: set[str] | None):
  """(restore target, {field: empty value}): a state whose fields that hold no array (TrainState.ema with
  config.ema_decay = 0) are absent from the checkpoint (saved before the field existed) is restored without them,
  as a dict, and they are put back empty; otherwise (abstract_state, {})."""
  if abstract_state is None or saved_fields is None or not dataclasses.is_dataclass(abstract_state):
    return abstract_state, {}
  fields = {f.name: getattr(abstract_state, f.name) for f in dataclasses.fields(abstract_state)
            if f.metadata.get("pytree_node", True)}
  added = {k: v for k, v in fields.items() if k not in saved_fields and not jax.tree.leaves(v)}
  if not added:
    return abstract_state, {}
  return {k: v for k, v in fields.items() if k not in added}, added


class Checkpointer:
  """Saves and restores the whole TrainState with digests; the data position is the state's step."""

  def __init__(self, workdir: str | Path, keep: int = 3):
    workdir = Path(workdir).absolute()
    self.directory = checkpoint_directory(workdir)
    self.rejected_directory = workdir / "rejected_checkpoints"
    self._newest_save = None  # the step of the save started last, to name it if it fails
    self._noise = _OrbaxNoiseFilter()
    self._noise.install()
    try:
      self.manager = ocp.CheckpointManager(
          self.directory,
          item_handlers={STATE_ITEM: ocp.StandardCheckpointHandler(), DIGESTS_ITEM: ocp.JsonCheckpointHandler()},
          options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
    except OSError as e:
      self._noise.uninstall()
      raise CheckpointSaveError(f"cannot create {self.directory}: {_one_line(e)}; "
                                "choose a --workdir on a writable disk with free space") from e

  def remove_interrupted_saves(self) -> None:
    """Deletes the temporary folders of saves that never finished; only for the run holding the workdir."""
    if jax.process_index() == 0:
      for partial in self.directory.glob(f"*{_TMP_MARKER}*"):
        shutil.rmtree(partial, ignore_errors=True)
        log.info("removed %s, left by a save that was interrupted", partial)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices("cnnjax interrupted saves removed")
    self.manager.reload()

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, state) -> None:
    """Starts writing `state` at its step (in the background); a no-op if that step exists."""
    self.check_saves()
    step = int(jax.device_get(state.step))
    if step in self.manager.all_steps():
      return
    args = ocp.args.Composite(**{STATE_ITEM: ocp.args.StandardSave(state),
                                 DIGESTS_ITEM: ocp.args.JsonSave(array_digests(state))})
    self._newest_save = step
    try:
      self.manager.save(step, args=args, force=True)
    except Exception as e:  # orbax and tensorstore raise many types for failed writes
      raise self._save_error(e) from e

  def check_saves(self) -> None:
    """Raises CheckpointSaveError if the last background save has failed (cheap: it waits for nothing)."""
    if self.manager.is_saving_in_progress():
      return
    try:
      self.manager.wait_until_finished()  # returns at once, raising the failure of a finished save
    except Exception as e:
      raise self._save_error(e) from e

  def _save_error(self, error) -> CheckpointSaveError:
    self.manager.reload()
    good = self.steps()
    return CheckpointSaveError(
        f"could not save step {self._newest_save} in {self.directory} ({_one_line(error)}); "
        + (f"earlier checkpoints are intact (newest: step {good[-1]}). " if good else "")
        + "Free disk space or fix permissions, then run the same command again to resume.")

  def restore(self, abstract_state=None, step: int = -1):
    """Restores a verified checkpoint: the newest good one (step -1) or `step`; None to start afresh.

    `abstract_state` gives shapes, dtypes and shardings (e.g. from jax.eval_shape); without it the
    arrays come back as saved, in nested dicts (for reading a run's weights). Steps that fail
    verification are moved aside. step 0 moves every checkpoint aside and returns None; step N
    moves the steps after N aside. Raises CheckpointError when nothing usable is left.
    """
    steps = self.steps()
    if step == 0:
      for s in steps:
        self.set_aside(s, "config.resume_from_step=0 starts afresh")
      return None
    if step > 0:
      if step not in steps:
        raise CheckpointError(f"config.resume_from_step={step}: {self.directory} has no step {step} "
                              f"(it has {', '.join(map(str, steps)) or 'none'}); choose one of those, "
                              "0 to start afresh or -1 for the newest")
      for s in steps:
        if s > step:
          self.set_aside(s, f"newer than config.resume_from_step={step}")
      steps = [step]
    if not steps:
      return None
    failures = {}
    for s in reversed(steps):
      self._check_structure(s, abstract_state)
      try:
        state = self._restore_verified(s, abstract_state)
      except Exception as e:  # orbax and tensorstore raise many types for unreadable data
        failures[s] = _one_line(e)
        continue
      for bad, cause in failures.items():  # set aside only once a good step shows the reading works
        self.set_aside(bad, cause)
      return state
    raise CheckpointError(
        f"no checkpoint in {self.directory} is readable ({'; '.join(f'step {k}: {v}' for k, v in failures.items())}); "
        "nothing was moved or deleted. Move the folder away to start afresh, or fix the config to match them")

  def _check_structure(self, step: int, abstract_state) -> None:
    """Refuses a checkpoint of another model or optimizer before anything is moved or read."""
    if abstract_state is None:
      return
    try:
      saved = self.manager.item_metadata(step)[STATE_ITEM]
    except Exception:  # unreadable metadata: corrupt, which the restore reports and handles
      return
    if saved is None:
      return
    expected = collections.Counter(tuple(a.shape) for a in jax.tree.leaves(abstract_state))
    found = collections.Counter(tuple(m.shape) for m in jax.tree.leaves(saved) if hasattr(m, "shape"))
    if expected != found:
      missing, extra = list((expected - found).elements()), list((found - expected).elements())
      raise CheckpointError(
          f"checkpoint step {step} in {self.directory} holds a different model, optimizer or weight average "
          "(config.ema_decay) than the config "
          f"(arrays the config needs but the checkpoint lacks: {missing[:3]}; arrays it has in excess: {extra[:3]}); "
          "use a new --workdir for a changed config")

  def _saved_fields(self, step: int) -> set[str] | None:
    """The top-level fields of the state saved at `step` ("params", "opt_state", ...); None if unreadable."""
    try:
      saved = self.manager.item_metadata(step)[STATE_ITEM]
      return set(saved.keys())
    except Exception:  # unreadable or not a mapping: the restore reports it
      return None

  def _restore_verified(self, step: int, abstract_state):
    has_digests = (self.directory / str(step) / DIGESTS_ITEM).exists()
    target, added = _without_new_empty_fields(abstract_state, self._saved_fields(step))
    items = {STATE_ITEM: ocp.args.StandardRestore(target)}
    if has_digests:
      items[DIGESTS_ITEM] = ocp.args.JsonRestore()
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    finally:
      gc.collect()  # the failed read's coroutines report now, while orbax's noise is filtered
    state = restored[STATE_ITEM]
    if added:  # the empty fields a checkpoint from before them lacks come back empty
      state = abstract_state.replace(**state, **added)
    if not has_digests:
      log.warning("checkpoint step %d in %s has no digests (written by an older cnnjax): not verified",
                  step, self.directory)
      return state
    expected, actual = restored[DIGESTS_ITEM], array_digests(state)
    wrong = sorted(k for k in expected if expected[k] != actual.get(k))
    if wrong or set(actual) != set(expected):
      raise ValueError(f"{len(wrong) or 'some'} arrays differ from their saved sha256 digests "
                       f"({', '.join(wrong[:3])})")
    return state

  def set_aside(self, step: int, cause: str) -> None:
    """Moves a step's folder into rejected_checkpoints/ (kept, never deleted), with one warning line."""
    if jax.process_index() == 0:
      self.rejected_directory.mkdir(parents=True, exist_ok=True)
      stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
      target = self.rejected_directory / f"step_{step}_{stamp}"
      (self.directory / str(step)).rename(target)
      log.warning("checkpoint step %d set aside as %s: %s", step, target, cause)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"cnnjax checkpoint {step} set aside")
    self.manager.reload()

  def wait(self) -> None:
    """Blocks until background saves finish; raises CheckpointSaveError if one failed."""
    try:
      self.manager.wait_until_finished()
    except Exception as e:
      raise self._save_error(e) from e

  def close(self) -> None:
    try:
      self.wait()
    finally:
      self.manager.close()
      self._noise.uninstall()
