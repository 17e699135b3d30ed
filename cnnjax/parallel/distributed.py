"""Multi-host start-up through JAX's own multi-controller runtime (`jax.distributed.initialize`).

Configured by flags (coordinator address, process count and index), by JAX's environment
variables (JAX_COORDINATOR_ADDRESS, ...) or by JAX's cluster auto-detection (SLURM, Open MPI,
TPU pods, ...). On CPU the cross-process collectives are JAX's default (gloo over TCP).
"""

import os

import jax

from cnnjax.errors import InputError


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto_detect: bool = False, timeout_seconds: int = 300) -> bool:
  """Starts the multi-process runtime when asked for; returns whether it did.

  Asked for means: a coordinator address (argument or JAX_COORDINATOR_ADDRESS), or
  `auto_detect`, which lets JAX read the cluster's environment. A single-process run needs none.
  Must run before anything touches a JAX device.
  """
  if coordinator_address is None and not os.environ.get("JAX_COORDINATOR_ADDRESS") and not auto_detect:
    return False
  try:
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, initialization_timeout=timeout_seconds)
  except ValueError as e:
    raise InputError(f"multi-process start-up failed ({e}): give --coordinator_address=HOST:PORT, --num_processes "
                     "and --process_id (the same address and count in every process), or run under a cluster JAX "
                     "detects (SLURM, Open MPI, TPU pods) with --distributed_auto") from e
  return True
