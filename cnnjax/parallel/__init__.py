"""Data parallelism: a one-axis device mesh, batch sharding and multi-host initialisation.

mesh.py (the `data` mesh, placing batches and state), data_parallel.py (jit of the train step under
a batch-norm policy: global or per-device via shard_map), distributed.py (jax.distributed start-up).
Scaling studies built on them live in cnnjax.scaling.
"""
