"""Native CPU libraries, built by `python -m cnnjax.kernels.build`: oneDNN convolutions bound into XLA
through JAX's FFI (`onednn`), and the scratch cache that cnnjax.fast.process preloads (scratch_cache.c)."""
