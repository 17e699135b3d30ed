"""Max pooling over windows that tile the input, and its gradient, on the CPU as JAX FFI calls (max_pool.cc).

Why: XLA computes this pooling and its gradient as several single-threaded passes over the input
(a reshape-then-max, then a compare, a count and a select); max_pool.cc makes one pass each way on every
core. `max_pool_tiles(x, window)` gives the values and gradient of cnnjax.layers.max_pool for float32
NHWC inputs whose height and width the window divides, with stride = window and no padding: ties share
their window's gradient equally, as there. cnnjax.fast.max_pool decides when to use it. With several
devices the calls carry a sharding rule (cnnjax.kernels.batch_sharded): each device pools its own examples.
"""

import functools

import jax
import jax.numpy as jnp

from cnnjax.kernels import batch_sharded, build

SYMBOLS = {"pool": "CnnjaxMaxPool", "grad": "CnnjaxMaxPoolGrad"}
TARGETS = {kind: f"cnnjax_{symbol}" for kind, symbol in SYMBOLS.items()}  # FFI target names
DISABLE_ENV = build.TARGETS["max_pool"].opt_out  # CNNJAX_MAX_POOL_KERNELS=0 keeps XLA's pooling


def unavailable_reason() -> str | None:
  """Why the max-pool kernels are off in this process (None when they are on)."""
  return build.cpu_ffi_unavailable_reason("max_pool", {TARGETS[kind]: symbol for kind, symbol in SYMBOLS.items()})


def _pool(x, window):
  n, h, w, c = x.shape
  out = batch_sharded.varying_result((n, h // window[0], w // window[1], c), jnp.float32, x)
  return jax.ffi.ffi_call(TARGETS["pool"], out, vmap_method="sequential")(x)


def _grad(x, y, g):
  out = batch_sharded.varying_result(x.shape, jnp.float32, x)
  return jax.ffi.ffi_call(TARGETS["grad"], out, vmap_method="sequential")(x, y, g)


PLAIN = {"pool": _pool, "grad": _grad}
SHARDED = {  # the batch "n" split over devices; every other factor replicated
    "pool": batch_sharded.batch_sharded(_pool, (1,), "n h w c -> n p q c", (True,)),
    "grad": batch_sharded.batch_sharded(_grad, (), "n h w c, n p q c, n p q c -> n h w c", (True, True, True)),
}


def _calls() -> dict:
  """The sharded calls when this process sees several devices, else the plain ones."""
  return SHARDED if jax.device_count() > 1 else PLAIN


def max_pool_tiles(x: jax.Array, window: tuple[int, int]) -> jax.Array:
  """[N, H, W, C] float32 -> [N, H / kh, W / kw, C], the maximum of each (kh, kw) = window tile."""
  if x.ndim != 4 or x.shape[1] % window[0] or x.shape[2] % window[1]:
    raise ValueError(f"max_pool_tiles: window {window} must tile the height and width of NHWC x {x.shape}")
  return _max_pool(*batch_sharded.vary_alike(x), tuple(window))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pool(x, window):
  return _calls()["pool"](x, window)


def _max_pool_fwd(x, window):
  y = _max_pool(x, window)
  return y, (x, y)


def _max_pool_bwd(window, saved, g):
  del window
  x, y = saved
  return (_calls()["grad"](x, y, g.astype(jnp.float32)),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)
