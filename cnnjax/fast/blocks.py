"""Which fast building blocks a model gets on this platform: the one place that decides.

Models name only their paper's blocks, as fields with plain flax defaults (`conv=nn.Conv`,
`norm=BatchNorm`, `norm_act=None`: norm then activation). `choose` picks drop-in replacements for
a backend and dtype, and `FastPaths.apply` puts them into a model's fields where the model still
holds the plain default (a block the caller chose is kept). The replacements have the
same variables and compute the same function, so checkpoints move freely between the two:

- conv: flax's nn.Conv computing through `onednn_conv` (oneDNN on CPU devices, float32 NHWC;
  faster gradients; split by batch over several devices; as cnnjax.fast.conv.Conv, which adds a bias
  inside the oneDNN call; cnnjax's Winograd kernel where it pays, cnnjax.kernels.onednn) and, for
  models listed in
  SMALL_MAP_CONV_MODELS, through `small_map_conv` first (maps of at most 2x2 positions as slices
  + one matmul, where XLA's CPU convolution is slow).
- max_pool: `cnnjax.fast.max_pool.max_pool` on the CPU (tiling windows through a multi-threaded kernel).
- norm_act: `BatchNormReLU` for models whose activation is ReLU and whose norm is the default one
  (one custom-VJP layer; its backward pass keeps two arrays instead of three; on the CPU its passes
  run on every core through cnnjax.kernels.batch_norm, in any dtype, as it computes in float32).

The runner asks through `config.fast_paths` ("auto" or "off") and records `describe()` in results.json.
Process settings (XLA flags, the allocator) are separate: cnnjax.fast.process, for entry points.
"""

import dataclasses
import fnmatch
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.fast import batch_norm_relu, conv, max_pool, onednn_conv, small_map_conv
from cnnjax.fast.batch_norm_relu import BatchNormReLU
from cnnjax.kernels import onednn
from cnnjax.layers import BatchNorm

MODES = ("auto", "off")
# Models whose convolutions go through small_map_conv: VGG's last stage on a 32x32 input is 2x2.
SMALL_MAP_CONV_MODELS = ("vgg*",)
RELU = (nn.relu, jax.nn.relu)


@dataclasses.dataclass(frozen=True)
class FastPaths:
  """The blocks chosen for one platform; `apply` puts them into a model."""

  mode: str
  conv_general_dilated: Callable | None  # for nn.Conv; None keeps lax's
  small_map_conv: bool  # route the SMALL_MAP_CONV_MODELS' convolutions through small_map_conv first
  norm_act: Any  # BatchNormReLU or None (the model composes norm and activation)
  onednn: str  # onednn_conv.onednn_status() when chosen: "on" or "off: <why>"
  batch_norm_kernels: str = "off: fast_paths=off"  # BatchNormReLU's CPU kernels: "on" or "off: <why>"
  max_pool: Callable | None = None  # for models' max_pool field: fast max_pool.max_pool, or None (plain)
  max_pool_kernels: str = "off: fast_paths=off"  # its CPU kernel: "on" or "off: <why>"
  winograd: str = "off: fast_paths=off"  # the Winograd kernel where it pays: "on" or "off: <why>"

  def blocks_for(self, model_name: str) -> dict[str, Any]:
    """Field name -> block for the registered model `model_name` (the per-model choices applied)."""
    blocks = {}
    conv_fn = self.conv_general_dilated
    if self.small_map_conv and any(fnmatch.fnmatch(model_name, p) for p in SMALL_MAP_CONV_MODELS):
      conv_fn = small_map_conv.conv_general_dilated  # falls back to onednn_conv, then lax
    if conv_fn is not None:
      blocks["conv"] = functools.partial(conv.Conv, conv_general_dilated=conv_fn)
    if self.norm_act is not None:
      blocks["norm_act"] = self.norm_act
    if self.max_pool is not None:
      blocks["max_pool"] = self.max_pool
    return blocks

  def apply(self, model: nn.Module, model_name: str) -> nn.Module:
    """`model` with each chosen block in the fields that still hold their plain defaults; a network held in a
    field (a detector's backbone or classifier) gets them too."""
    defaults = {f.name: f.default for f in dataclasses.fields(model)}
    chosen = {name: self.apply(value, model_name) for name in defaults
              if name != "parent" and isinstance(value := getattr(model, name), nn.Module)}
    for field, block in self.blocks_for(model_name).items():
      if field not in defaults or getattr(model, field) is not defaults[field]:
        continue  # the model has no such block, or its caller chose one
      if field == "norm_act" and not _fusable(model):
        continue
      chosen[field] = block
    return model.clone(**chosen) if chosen else model

  def describe(self, model: nn.Module | None = None) -> dict[str, str]:
    """What was chosen, for results.json; with `model`, what that model's fields hold."""
    description = {"mode": self.mode, "onednn_convolutions": self.onednn, "batch_norm_kernels": self.batch_norm_kernels,
                   "max_pool_kernels": self.max_pool_kernels, "winograd_convolutions": self.winograd}
    if model is not None:
      for field in ("conv", "norm", "norm_act", "max_pool"):
        if hasattr(model, field):
          description[field] = _block_name(getattr(model, field))
      for field in ("backbone", "classifier"):  # the network inside a detector
        if isinstance(getattr(model, field, None), nn.Module):
          description.update({f"{field}.{k}": v for k, v in self.describe(getattr(model, field)).items()
                              if k in ("conv", "norm", "norm_act")})
    return description


def _fusable(model: nn.Module) -> bool:
  """BatchNormReLU computes relu(BatchNorm(x) + residual) with BatchNorm's default settings only."""
  return getattr(model, "act", nn.relu) in RELU and getattr(model, "norm", BatchNorm) is BatchNorm


def _block_name(block) -> str:
  if block is max_pool.max_pool:
    return "max_pool(kernels.max_pool)"
  if block is None:
    return "norm + activation"
  if isinstance(block, functools.partial):
    keywords = block.keywords.get("conv_general_dilated")
    inner = getattr(block.func, "__name__", str(block.func))
    return f"{inner}({keywords.__module__.rsplit('.', 1)[-1]})" if keywords else inner
  return getattr(block, "__name__", str(block))


def choose(mode: str = "auto", backend: str | None = None, dtype: Any = jnp.float32) -> FastPaths:
  """The fast blocks for `backend` (default: JAX's) and compute `dtype`, on any number of devices.

  "off" gives the plain blocks everywhere. oneDNN convolutions need the CPU and float32 (no bfloat16
  kernel), on any device count (their sharding rule splits the batch: cnnjax.kernels.batch_sharded);
  small-map convolutions are for the CPU; BatchNormReLU computes in float32 on any backend and device
  count (it and small_map_conv are plain JAX, which XLA partitions itself).
  """
  if mode not in MODES:
    raise ValueError(f"fast_paths={mode!r} is unknown; use one of {MODES}")
  backend = backend or jax.default_backend()
  if mode == "off":
    return FastPaths(mode, None, False, None, "off: fast_paths=off")
  status = onednn_conv.onednn_status()
  if backend != "cpu":
    status = f"off: backend {backend}"
  elif jnp.dtype(dtype) != jnp.float32:
    status = f"off: dtype {jnp.dtype(dtype).name}"
  conv_fn = onednn_conv.conv_general_dilated if status == "on" else None
  winograd = onednn.winograd_status() if status == "on" else "off: oneDNN convolutions are off"
  if backend != "cpu":
    return FastPaths(mode, conv_fn, False, BatchNormReLU, status, f"off: backend {backend}", None,
                     f"off: backend {backend}", winograd)
  pool_status = max_pool.kernels_status()
  return FastPaths(mode, conv_fn, True, BatchNormReLU, status, batch_norm_relu.kernels_status(),
                   max_pool.max_pool if pool_status == "on" else None, pool_status, winograd)
