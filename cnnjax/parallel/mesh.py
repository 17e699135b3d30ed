"""A `data` mesh over every device of every process, and placing batches and state on it.

Batches are split along the mesh's `data` axis, state is replicated; jit then runs each
step on the global batch, so the mathematics do not depend on the device count.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from cnnjax.errors import InputError

DATA_AXIS = "data"


def make_data_mesh(devices=None) -> Mesh:
  """A one-dimensional mesh named `data` over `devices` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch_size: int, mesh: Mesh, field: str = "config.batch_size") -> None:
  """Raises a clear error unless the global batch divides evenly over devices and processes."""
  devices, processes = mesh.devices.size, jax.process_count()
  if global_batch_size % devices or global_batch_size % processes:
    raise InputError(f"{field}={global_batch_size} does not divide over {devices} devices in {processes} "
                     f"processes; use a multiple of {devices}")


def shard_batch(batch: dict, mesh: Mesh) -> dict:
  """Global arrays from this process's rows of a batch, split along the `data` axis."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def replicate(tree, mesh: Mesh):
  """Places a host tree (identical on every process) replicated on all devices of the mesh."""
  sharding = replicated(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_callback(np.shape(x), sharding, lambda idx: np.asarray(x)[idx]),
                      tree)


def replicate_key(key: jax.Array, mesh: Mesh) -> jax.Array:
  """A PRNG key (the same on every process) replicated on all devices of the mesh.

  `jax.device_put` refuses shardings with devices of other processes, so the key's raw data
  is placed like any host array and wrapped again.
  """
  return jax.random.wrap_key_data(replicate(jax.random.key_data(key), mesh), impl=jax.random.key_impl(key))
