"""2-D convolutions on the CPU through oneDNN, with their gradients, as JAX FFI calls.

Why: XLA's CPU convolutions are slower than those of oneDNN, the library behind PyTorch's CPU
convolutions, most of all in filter gradients (benchmarks/conv_kernels.py times each part side by
side), and that gap was most of a training step's time.
`conv2d` computes the same values as lax.conv_general_dilated for float32 NHWC inputs and HWIO kernels
with strides and explicit padding. The library is built (cnnjax.kernels.build: into the user's cache, by
`python -m cnnjax.kernels.build` or else here on first use) and loaded on first use;
`unavailable_reason()` says why it is not in use, if it is not.
3x3 stride-1 convolutions with padding 1, channels a multiple of 16 and maps of at least 4x4 (filter gradients:
8x8) use cnnjax's Winograd kernel (winograd_avx2.h, AVX2 + FMA), which is faster there than oneDNN's direct
convolution (benchmarks/conv_algorithms.py times both per shape), with rounding held to the same bound as the
direct algorithm's (tests/fast/test_winograd.py); the same kernel runs on every x86 CPU with AVX2, so results do
not depend on AVX-512. `CNNJAX_WINOGRAD=0` keeps every convolution direct, and `winograd_status()` says which.
With several devices the three calls carry a sharding rule (cnnjax.kernels.batch_sharded): under
`jax.jit` over a mesh each device convolves its shard of the batch, and the filter gradient is
summed over the devices; one device gets the plain calls. Under jax.vmap only the plain calls
work (custom_partitioning has no batching rule).
"""

import ctypes
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.kernels import batch_sharded, build

SYMBOLS = {"forward": "CnnjaxConvForward", "input_grad": "CnnjaxConvInputGrad",
           "filter_grad": "CnnjaxConvFilterGrad", "forward_bias": "CnnjaxConvForwardBias",
           "filter_grad_bias": "CnnjaxConvFilterGradBias"}  # handler symbols in the library
TARGETS = {kind: f"cnnjax_{symbol}" for kind, symbol in SYMBOLS.items()}  # FFI target names
FORWARD_TARGETS = (TARGETS["forward"], TARGETS["forward_bias"])  # the calls that compute a convolution's output
DISABLE_ENV = build.TARGETS["onednn"].opt_out  # CNNJAX_ONEDNN=0 keeps XLA's convolutions
WINOGRAD_ENV = "CNNJAX_WINOGRAD"  # =0 keeps every convolution direct (oneDNN's)
WINOGRAD_ALWAYS = 2  # `winograd` for benchmarks: Winograd on every shape the kernel takes, not only where it pays


@functools.cache
def _library() -> tuple[ctypes.CDLL | None, str | None]:
  """Builds the library on first use, loads it and registers its FFI targets, once per process.

  (library, None) on success; else (None, why not), the reason also printed on stderr (one line).
  """
  return build.load_ffi("onednn", {TARGETS[kind]: symbol for kind, symbol in SYMBOLS.items()})


def call_totals() -> dict[str, float]:
  """What this process's convolution calls cost so far: seconds inside them (oneDNN or the Winograd kernel),
  calls, calls made from another XLA thread than the call before, and calls that ran Winograd
  (benchmarks/step_floor.py reads it around a step)."""
  library, reason = _library()
  if library is None:
    raise RuntimeError(f"oneDNN convolutions are off: {reason}")
  totals = (ctypes.c_int64 * 4)()
  library.CnnjaxConvTotals(totals)
  return {"seconds": totals[0] / 1e9, "calls": totals[1], "thread_changes": totals[2],
          "winograd_calls": totals[3]}


def unavailable_reason() -> str | None:
  """Why oneDNN convolutions are off in this process (None when they are on)."""
  if os.environ.get(DISABLE_ENV, "1") == "0":
    return f"{DISABLE_ENV}=0"
  return _library()[1]


def winograd_requested() -> bool:
  """Whether convolutions ask for Winograd where it pays (unless CNNJAX_WINOGRAD=0); the library decides per
  shape and falls back to direct where this CPU's oneDNN has none."""
  return os.environ.get(WINOGRAD_ENV, "1") != "0"


def _winograd_mode(winograd: bool | int | None) -> int:
  """The library's `winograd` attribute: 0 direct, 1 where it pays, 2 (WINOGRAD_ALWAYS) wherever it can."""
  if winograd is None:
    return int(winograd_requested())
  if winograd not in (False, True, WINOGRAD_ALWAYS):
    raise ValueError(f"winograd={winograd!r}: use True, False, None or onednn.WINOGRAD_ALWAYS")
  return int(winograd)


def winograd_status() -> str:
  """"on" when this process's eligible convolutions run cnnjax's Winograd kernel, else "off: <why>"."""
  if not winograd_requested():
    return f"off: {WINOGRAD_ENV}=0"
  reason = unavailable_reason()
  if reason:
    return f"off: oneDNN convolutions are off ({reason})"
  if not _library()[0].CnnjaxConvHasWinograd():
    return "off: this CPU has no AVX2 and FMA, which the Winograd kernel needs"
  return "on"


def _attributes(strides, padding, winograd) -> dict:
  (top, bottom), (left, right) = padding
  return {name: np.int64(value) for name, value in
          dict(stride_h=strides[0], stride_w=strides[1], pad_top=top, pad_left=left, pad_bottom=bottom,
               pad_right=right, winograd=winograd).items()}


def _call(target: str, shapes, operands, strides, padding, winograd):
  """The FFI call with results of `shapes` (a tuple when more than one); they vary over the manual mesh axes
  the first operand varies over (inside jax.shard_map)."""
  results = [batch_sharded.varying_result(shape, jnp.float32, operands[0]) for shape in shapes]
  call = jax.ffi.ffi_call(TARGETS[target], results if len(results) > 1 else results[0], vmap_method="sequential")
  return call(*operands, **_attributes(strides, padding, winograd))


def output_shape(x_shape, kernel_shape, strides, padding) -> tuple[int, int, int, int]:
  """[N, H', W', C_out] with H' = floor((H + top + bottom - kh) / stride) + 1, as lax and torch."""
  n, h, w, _ = x_shape
  kh, kw, _, c_out = kernel_shape
  (top, bottom), (left, right) = padding
  return (n, (h + top + bottom - kh) // strides[0] + 1, (w + left + right - kw) // strides[1] + 1, c_out)


def _forward(x, kernel, strides, padding, winograd):
  return _call("forward", [output_shape(x.shape, kernel.shape, strides, padding)], (x, kernel), strides, padding,
               winograd)


def _forward_bias(x, kernel, bias, strides, padding, winograd):
  return _call("forward_bias", [output_shape(x.shape, kernel.shape, strides, padding)], (x, kernel, bias), strides,
               padding, winograd)


def _input_grad(cotangent, kernel, example_shape, strides, padding, winograd):
  return _call("input_grad", [(cotangent.shape[0], *example_shape)], (cotangent, kernel), strides, padding,
               winograd)


def _filter_grad(x, cotangent, kernel_shape, strides, padding, winograd):
  return _call("filter_grad", [kernel_shape], (x, cotangent), strides, padding, winograd)


def _filter_grad_bias(x, cotangent, kernel_shape, strides, padding, winograd):
  return tuple(_call("filter_grad_bias", [kernel_shape, kernel_shape[-1:]], (x, cotangent), strides, padding,
                     winograd))


# The same calls with a sharding rule: the batch "n" split over devices, all else replicated.
SHARDED = {
    "forward": batch_sharded.batch_sharded(_forward, (2, 3, 4), "n h w c, i j c o -> n p q o", (True, False)),
    "input_grad": batch_sharded.batch_sharded(_input_grad, (2, 3, 4, 5), "n p q o, i j c o -> n h w c",
                                              (True, False)),
    "filter_grad": batch_sharded.batch_sharded(_filter_grad, (2, 3, 4, 5), "n h w c, n p q o -> i j c o",
                                               (True, True), sum_over_batch=True),
    "forward_bias": batch_sharded.batch_sharded(_forward_bias, (3, 4, 5), "n h w c, i j c o, o -> n p q o",
                                                (True, False, False)),
    "filter_grad_bias": batch_sharded.batch_sharded(_filter_grad_bias, (2, 3, 4, 5),
                                                    "n h w c, n p q o -> i j c o, o", (True, True),
                                                    sum_over_batch=True, results=2),
}
PLAIN = {"forward": _forward, "input_grad": _input_grad, "filter_grad": _filter_grad, "forward_bias": _forward_bias,
         "filter_grad_bias": _filter_grad_bias}


def _calls() -> dict:
  """The sharded calls when this process sees several devices, else the plain ones."""
  return SHARDED if jax.device_count() > 1 else PLAIN


def conv2d(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
           padding: tuple[tuple[int, int], tuple[int, int]], bias: jax.Array | None = None,
           winograd: bool | int | None = None) -> jax.Array:
  """[N, H, W, C_in] float32 x [kh, kw, C_in, C_out] float32 (+ bias [C_out]) -> [N, H', W', C_out] (output_shape).

  With a bias oneDNN adds it in the convolution and computes its gradient with the filter gradient.
  winograd: True for Winograd where it pays (None: unless CNNJAX_WINOGRAD=0), False for direct, WINOGRAD_ALWAYS
  on every shape the kernel takes (3x3, stride 1, padding 1, channels a multiple of 16), 2x2 maps too; the
  gradients use the same.
  """
  winograd = _winograd_mode(winograd)
  if bias is None:
    return _conv2d(*batch_sharded.vary_alike(x, kernel), strides, padding, winograd)
  return _conv2d_bias(*batch_sharded.vary_alike(x, kernel, bias), strides, padding, winograd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv2d(x, kernel, strides, padding, winograd):
  return _calls()["forward"](x, kernel, strides, padding, winograd)


def _conv2d_fwd(x, kernel, strides, padding, winograd):
  return _conv2d(x, kernel, strides, padding, winograd), (x, kernel)


def input_grad(cotangent: jax.Array, kernel: jax.Array, x_shape, strides, padding,
               winograd: bool | int | None = None) -> jax.Array:
  """Gradient of conv2d with respect to its input: [N, H', W', C_out] -> [N, H, W, C_in] (x_shape)."""
  winograd = _winograd_mode(winograd)
  return _calls()["input_grad"](cotangent, kernel, tuple(x_shape[1:]), strides, padding, winograd)


def filter_grad(x: jax.Array, cotangent: jax.Array, kernel_shape, strides, padding,
                winograd: bool | int | None = None) -> jax.Array:
  """Gradient of conv2d with respect to its kernel: -> [kh, kw, C_in, C_out] (kernel_shape)."""
  winograd = _winograd_mode(winograd)
  return _calls()["filter_grad"](x, cotangent, tuple(kernel_shape), strides, padding, winograd)


def _conv2d_bwd(strides, padding, winograd, residuals, cotangent):
  x, kernel = residuals
  cotangent = cotangent.astype(jnp.float32)
  return (input_grad(cotangent, kernel, x.shape, strides, padding, winograd),
          filter_grad(x, cotangent, kernel.shape, strides, padding, winograd))


_conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _conv2d_bias(x, kernel, bias, strides, padding, winograd):
  return _calls()["forward_bias"](x, kernel, bias, strides, padding, winograd)


def _conv2d_bias_fwd(x, kernel, bias, strides, padding, winograd):
  return _conv2d_bias(x, kernel, bias, strides, padding, winograd), (x, kernel)


def _conv2d_bias_bwd(strides, padding, winograd, residuals, cotangent):
  x, kernel = residuals
  cotangent = cotangent.astype(jnp.float32)
  kernel_grad, bias_grad = _calls()["filter_grad_bias"](x, cotangent, tuple(kernel.shape), strides, padding,
                                                        winograd)
  return input_grad(cotangent, kernel, x.shape, strides, padding, winograd), kernel_grad, bias_grad


_conv2d_bias.defvjp(_conv2d_bias_fwd, _conv2d_bias_bwd)
