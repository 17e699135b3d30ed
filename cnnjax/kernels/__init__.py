"""Native CPU libraries: oneDNN convolutions bound into XLA through JAX's FFI (`onednn`), and the scratch
cache that cnnjax.fast.process preloads (scratch_cache.c). `build` compiles them into the user's cache
(~/.cache/cnnjax), on first use or ahead of time with `python -m cnnjax.kernels.build`."""
