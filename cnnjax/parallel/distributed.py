"""Multi-host start-up through JAX's own multi-controller runtime."""

import jax


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Calls `jax.distributed.initialize` when a multi-process run is asked for.

  With no arguments JAX's cluster auto-detection (SLURM, TPU pods, ...) is tried only when
  JAX_COORDINATOR_ADDRESS is set; a single-process run needs nothing.
  """
  import os
  if coordinator_address is None and not os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return
  jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                             process_id=process_id)
