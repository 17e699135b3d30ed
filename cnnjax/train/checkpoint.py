"""Orbax checkpoints in the workdir: save every N steps, keep the last k, resume from the newest good one."""

import logging
from pathlib import Path

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
  """No checkpoint in the workdir could be restored."""


class Checkpointer:
  """Saves and restores the whole TrainState; the data position is the state's step."""

  def __init__(self, workdir: str | Path, keep: int = 3):
    self.directory = Path(workdir).absolute() / "checkpoints"
    self.manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, state, force: bool = False) -> None:
    step = int(jax.device_get(state.step))
    if step in self.manager.all_steps():
      return
    self.manager.save(step, args=ocp.args.StandardSave(state), force=force)

  def restore_latest(self, abstract_state):
    """Restores the newest checkpoint that loads; a broken one is skipped with a warning.

    `abstract_state` gives shapes, dtypes and shardings (e.g. from jax.eval_shape). Returns
    None when the workdir holds no checkpoint; raises CheckpointError if none loads.
    """
    steps = self.steps()
    if not steps:
      return None
    errors = []
    for step in reversed(steps):
      try:
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
      except Exception as e:  # orbax raises many types for unreadable data
        log.warning("checkpoint at step %d in %s could not be restored (%s: %s); trying an older one",
                    step, self.directory, type(e).__name__, str(e)[:200])
        errors.append(f"step {step}: {type(e).__name__}: {str(e)[:200]}")
    raise CheckpointError(
        f"no checkpoint in {self.directory} could be restored ({'; '.join(errors)}). They are left in place; "
        "move the folder away to start afresh, or fix the config so it matches the saved model.")

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()
