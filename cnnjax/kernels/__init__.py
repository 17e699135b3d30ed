"""Native CPU kernels bound into XLA through JAX's FFI (built by `python -m cnnjax.kernels.build`)."""
