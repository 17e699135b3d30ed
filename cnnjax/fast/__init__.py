"""Platform speed, in one place: fast drop-in blocks for the models and the process settings entry points apply.

blocks.py chooses, per backend, device count and dtype, the blocks a model gets through its fields
(onednn_conv.py, small_map_conv.py, batch_norm_relu.py); process.py holds the XLA flags and
allocator settings that only an entry point can apply before JAX starts. The models never import
this package: with their plain defaults they are ordinary flax on any backend.
"""
