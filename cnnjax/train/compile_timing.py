"""Compiling a step ahead of time, timed, and counting what JAX's persistent compilation cache served.

Why: a run's start-up is mostly compilation, which the persistent cache (cnnjax.fast.compilation_cache)
skips in a repeated or resumed run; results.json["compile"] records both, so the saving is measured,
not assumed. Lowering (tracing to StableHLO) is timed apart from compiling: the cache skips only the latter.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax

from cnnjax.fast import compilation_cache

HITS = "/jax/compilation_cache/cache_hits"
REQUESTS = "/jax/compilation_cache/compile_requests_use_cache"  # every compile that looked in the cache


class CacheEvents:
  """Counts JAX's persistent-cache lookups and hits while entered (a jax.monitoring event listener).

  Misses are lookups without a hit: JAX's own cache_misses event counts only the entries it writes.
  """

  def __init__(self):
    self.hits = 0
    self.requests = 0

  def _record(self, event: str, **_) -> None:
    if event == HITS:
      self.hits += 1
    elif event == REQUESTS:
      self.requests += 1

  def __enter__(self):
    jax.monitoring.register_event_listener(self._record)
    return self

  def __exit__(self, *exc):
    jax.monitoring.unregister_event_listener(self._record)

  @property
  def misses(self) -> int:
    return self.requests - self.hits


@dataclasses.dataclass
class CompiledOnFirstCall:
  """A jitted step that the first call lowers and compiles ahead of time (timed); every call runs that executable.

  All calls must pass arguments of the first call's shapes, dtypes and shardings, as a training loop's
  steps do (the executable raises TypeError otherwise). After the first call: lower_seconds,
  compile_seconds and from_cache (whether the persistent cache served the executable; None when unused).
  """

  jitted: Callable
  compiled: Any = None
  lower_seconds: float | None = None
  compile_seconds: float | None = None
  from_cache: bool | None = None

  def __call__(self, *args):
    if self.compiled is None:
      start = time.perf_counter()
      lowered = self.jitted.lower(*args)
      lowered_at = time.perf_counter()
      with CacheEvents() as events:
        self.compiled = lowered.compile()
      self.lower_seconds, self.compile_seconds = lowered_at - start, time.perf_counter() - lowered_at
      self.from_cache = events.hits > 0 if compilation_cache.in_use() else None
    return self.compiled(*args)


def report(steps: dict[str, CompiledOnFirstCall], events: CacheEvents) -> dict:
  """results.json["compile"]: each step's compile and lower seconds and whether the cache served it, and the
  run's cache folder with its lookups (every program the run compiled, small ones included)."""
  cache_dir = compilation_cache.in_use()
  out: dict[str, Any] = {}
  for name, step in steps.items():
    out[f"{name}_seconds"] = step.compile_seconds
    out[f"{name}_lower_seconds"] = step.lower_seconds
    out[f"{name}_from_cache"] = step.from_cache
  # JAX counts lookups (and can report hits from a cache object an earlier user of this process left behind) even
  # without a cache folder configured: the run's own cache counts only with one.
  out["cache"] = {"dir": cache_dir, "hits": events.hits if cache_dir else 0, "misses": events.misses if cache_dir else 0}
  return out
