"""The passes of training-mode relu(BatchNorm(x) [+ residual]) and its gradient on the CPU, as JAX FFI calls.

Why: XLA's CPU fusions run each of these memory-bound passes on one thread; batch_norm.cc runs them on
every core (cnnjax.fast.batch_norm_relu composes them into the layer; benchmarks/step_floor.py measures
what is left of a step outside its convolutions). Four passes over x [..., C] (channels last):

- `channel_sums(x)`: [2, C], the sums of x and of x * x over every axis but the last;
- `normalize_relu(x, mean, multiplier, bias, residual)`: relu((x - mean) * multiplier + bias [+ residual]);
- `relu_grad_sums(g, z, x, mean)`: [2, C], the sums of gy and of gy * (x - mean), gy = g where z > 0, else 0;
- `relu_input_grad(g, z, x, mean, k_gy, k_x, k_1, residual)`: k_gy * gy + k_x * (x - mean) + k_1 (and gy).

float32 only. With several devices each call carries a sharding rule (cnnjax.kernels.batch_sharded): each
device works on its shard of the batch and the sums are added over the devices, so the statistics stay
those of the global batch. The library is built on first use like the others (cnnjax.kernels.build);
`unavailable_reason()` says why it is not in use, if it is not.
"""


import jax
import jax.numpy as jnp

from cnnjax.kernels import batch_sharded, build

SYMBOLS = {"sums": "CnnjaxBatchNormSums", "normalize_relu": "CnnjaxBatchNormNormalizeRelu",
           "normalize_add_relu": "CnnjaxBatchNormNormalizeAddRelu", "grad_sums": "CnnjaxBatchNormGradSums",
           "input_grad": "CnnjaxBatchNormInputGrad", "input_grad_residual": "CnnjaxBatchNormInputGradResidual"}
TARGETS = {kind: f"cnnjax_{symbol}" for kind, symbol in SYMBOLS.items()}  # FFI target names
DISABLE_ENV = build.TARGETS["batch_norm"].opt_out  # CNNJAX_BATCH_NORM_KERNELS=0 keeps XLA's fusions


def unavailable_reason() -> str | None:
  """Why the batch-norm kernels are off in this process (None when they are on)."""
  return build.cpu_ffi_unavailable_reason("batch_norm", {TARGETS[kind]: symbol for kind, symbol in SYMBOLS.items()})


def _call(kind: str, shapes, like, *operands):
  """The FFI call with results of `shapes` (a tuple when more than one), varying like `like` in shard_map."""
  results = [batch_sharded.varying_result(shape, jnp.float32, like) for shape in shapes]
  return jax.ffi.ffi_call(TARGETS[kind], results if len(results) > 1 else results[0],
                          vmap_method="sequential")(*operands)


def _sums(x):
  return _call("sums", [(2, x.shape[-1])], x, x)


def _normalize_relu(x, mean, multiplier, bias):
  return _call("normalize_relu", [x.shape], x, x, mean, multiplier, bias)


def _normalize_add_relu(x, residual, mean, multiplier, bias):
  return _call("normalize_add_relu", [x.shape], x, x, residual, mean, multiplier, bias)


def _grad_sums(g, z, x, mean):
  return _call("grad_sums", [(2, x.shape[-1])], x, g, z, x, mean)


def _input_grad(g, z, x, mean, k_gy, k_x, k_1):
  return _call("input_grad", [x.shape], x, g, z, x, mean, k_gy, k_x, k_1)


def _input_grad_residual(g, z, x, mean, k_gy, k_x, k_1):
  return tuple(_call("input_grad_residual", [x.shape, x.shape], x, g, z, x, mean, k_gy, k_x, k_1))


PLAIN = {"sums": _sums, "normalize_relu": _normalize_relu, "normalize_add_relu": _normalize_add_relu,
         "grad_sums": _grad_sums, "input_grad": _input_grad, "input_grad_residual": _input_grad_residual}
# The same calls split over the batch "n" of x viewed as [N, R, C]; every other factor replicated.
_ROWS, _CHANNELS = "n r c", "c"
SHARDED = {
    "sums": batch_sharded.batch_sharded(_sums, (), f"{_ROWS} -> s c", (True,), sum_over_batch=True),
    "normalize_relu": batch_sharded.batch_sharded(_normalize_relu, (), f"{_ROWS}, c, c, c -> {_ROWS}",
                                                  (True, False, False, False)),
    "normalize_add_relu": batch_sharded.batch_sharded(_normalize_add_relu, (), f"{_ROWS}, {_ROWS}, c, c, c -> {_ROWS}",
                                                      (True, True, False, False, False)),
    "grad_sums": batch_sharded.batch_sharded(_grad_sums, (), f"{_ROWS}, {_ROWS}, {_ROWS}, c -> s c",
                                             (True, True, True, False), sum_over_batch=True),
    "input_grad": batch_sharded.batch_sharded(_input_grad, (), f"{_ROWS}, {_ROWS}, {_ROWS}, c, c, c, c -> {_ROWS}",
                                              (True, True, True, False, False, False, False)),
    "input_grad_residual": batch_sharded.batch_sharded(
        _input_grad_residual, (), f"{_ROWS}, {_ROWS}, {_ROWS}, c, c, c, c -> {_ROWS}, {_ROWS}",
        (True, True, True, False, False, False, False), results=2),
}


def _calls() -> dict:
  """The sharded calls when this process sees several devices, else the plain ones."""
  return SHARDED if jax.device_count() > 1 else PLAIN


def _rows(a: jax.Array) -> jax.Array:
  """a [N, ..., C] viewed as [N, R, C] (a free reshape), the form the calls and their sharding rules take."""
  return a.reshape(a.shape[0], -1, a.shape[-1])


def channel_sums(x: jax.Array) -> jax.Array:
  """[2, C] float32: the sums of x and of x * x over every axis of x [N, ..., C] but the last."""
  return _calls()["sums"](_rows(x))


def normalize_relu(x: jax.Array, mean: jax.Array, multiplier: jax.Array, bias: jax.Array,
                   residual: jax.Array | None = None) -> jax.Array:
  """relu((x - mean) * multiplier + bias [+ residual]); x, residual [N, ..., C], the rest [C]."""
  if residual is None:
    return _calls()["normalize_relu"](_rows(x), mean, multiplier, bias).reshape(x.shape)
  return _calls()["normalize_add_relu"](_rows(x), _rows(residual), mean, multiplier, bias).reshape(x.shape)


def relu_grad_sums(g: jax.Array, z: jax.Array, x: jax.Array, mean: jax.Array) -> jax.Array:
  """[2, C]: the sums of gy and of gy * (x - mean) with gy = g where z > 0, else 0 (g, z, x [N, ..., C])."""
  return _calls()["grad_sums"](_rows(g), _rows(z), _rows(x), mean)


def relu_input_grad(g: jax.Array, z: jax.Array, x: jax.Array, mean: jax.Array, k_gy: jax.Array, k_x: jax.Array,
                    k_1: jax.Array, with_residual: bool) -> tuple[jax.Array, jax.Array | None]:
  """(k_gy * gy + k_x * (x - mean) + k_1, gy if with_residual else None), gy as in relu_grad_sums."""
  operands = (_rows(g), _rows(z), _rows(x), mean, k_gy, k_x, k_1)
  if not with_residual:
    return _calls()["input_grad"](*operands).reshape(x.shape), None
  g_x, g_y = _calls()["input_grad_residual"](*operands)
  return g_x.reshape(x.shape), g_y.reshape(x.shape)
