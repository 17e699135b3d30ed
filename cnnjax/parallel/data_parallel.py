"""Compiling a training step for data parallelism over the `data` mesh, with a batch-norm policy.

"global": jit over the mesh computes on the global batch (sync BN; the result does not depend
on the device count). "per_device": `jax.shard_map` runs the step on each device's shard, so
batch norm sees only that shard ("ghost" batch norm, Hoffer et al. 2017; Goyal et al. 2017 use
per-worker statistics of 32 examples), while gradients are still the mean over all devices.
"""

import functools
from collections.abc import Callable

import jax
from jax.sharding import PartitionSpec as P

from cnnjax.errors import InputError
from cnnjax.parallel import mesh as mesh_lib

BATCH_NORM_STATS = ("global", "per_device")


def check_batch_norm_stats(policy: str) -> None:
  if policy not in BATCH_NORM_STATS:
    raise InputError(f"config.batch_norm_stats={policy!r} is unknown; use one of {BATCH_NORM_STATS}")


def compile_train_step(step_fn: Callable, mesh, batch_norm_stats: str = "global", donate: bool = True):
  """Jits `step_fn(state, batch, rng) -> (state, metrics)` over `mesh` under a batch-norm policy.

  State and rng are replicated, every leaf of the batch is split along its first axis. With
  "per_device", `step_fn` must accept `axis_name` (cnnjax.train.steps.train_step does): it then
  averages the loss, metrics and batch statistics over that axis itself.
  """
  check_batch_norm_stats(batch_norm_stats)
  replicated = mesh_lib.replicated(mesh)
  donate_argnums = (0,) if donate else ()
  if batch_norm_stats == "global":
    return jax.jit(step_fn, donate_argnums=donate_argnums, out_shardings=(replicated, replicated))
  per_device = jax.shard_map(functools.partial(step_fn, axis_name=mesh_lib.DATA_AXIS), mesh=mesh,
                             in_specs=(P(), P(mesh_lib.DATA_AXIS), P()), out_specs=(P(), P()))
  return jax.jit(per_device, donate_argnums=donate_argnums, out_shardings=(replicated, replicated))
