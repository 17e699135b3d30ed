"""Callbacks the runner makes around its training steps, so process-level tuning stays out of the loop.

The runner knows nothing of allocators or backends; an entry point that tuned the process (the
`cnnjax` command, cnnjax.fast.process) passes the hooks that go with its settings. Plain: no-ops.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from cnnjax.fast import process


def _nothing(*_) -> None:
  return None


@dataclasses.dataclass(frozen=True)
class StepHooks:
  """`after_compile()` once the first step has run; `before_step(state)` before each step is dispatched."""

  after_compile: Callable[[], None] = _nothing
  before_step: Callable[[Any], None] = _nothing


def for_this_process() -> StepHooks:
  """The hooks that go with cnnjax.fast.process's settings on this backend.

  On CPU a step keeps every core busy, so dispatching the next one early overlaps nothing; waiting
  for the previous one lets it free its scratch buffer before the next allocates one, which the
  preloaded scratch cache then reuses. After compiling, the compiler's freed heap goes back to the
  OS (malloc_trim), out of the run's resident memory. Elsewhere: plain hooks.
  """
  if jax.default_backend() != "cpu":
    return StepHooks()
  return StepHooks(after_compile=process.release_freed_memory, before_step=jax.block_until_ready)
