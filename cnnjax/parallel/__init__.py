"""Data parallelism: a one-axis device mesh, batch sharding and multi-host initialisation.

mesh.py (the `data` mesh, placing batches and state), data_parallel.py (jit of the train step under
a batch-norm policy: global or per-device via shard_map), distributed.py (jax.distributed start-up),
synthetic.py (the real step on synthetic data: timing and equivalence runs), scaling.py (scaling
study plan, efficiencies, table and plot; driven by `cnnjax scale`).
"""
