"""Max, average and adaptive average pooling with torch semantics, argmax indices, and the lecture's
three unpoolings.

Pooling follows torch.nn.functional.{max,avg,adaptive_avg}_pool2d (padding, ceil_mode, count_include_pad);
`max_pool_with_indices` / `max_unpool` follow max_pool2d(return_indices=True) / max_unpool2d, which
SegNet uses to put decoder values back where the encoder's maxima were. All layouts are NHWC.
"""

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.layers.conv import IntOrPair, pair as _pair


def _pool_geometry(size: int, window: int, stride: int, padding: int, ceil_mode: bool, axis: str):
  """Output size and (low, high) padding of one spatial axis, with torch's rules."""
  if 2 * padding > window:
    raise ValueError(f"pool padding {padding} must be at most half the window {window} along {axis}")
  span = size + 2 * padding - window
  if span < 0:
    raise ValueError(f"pool window {window} with padding {padding} does not fit {axis}={size}; "
                     f"use a smaller window or more padding")
  out = (-(-span // stride) if ceil_mode else span // stride) + 1
  if ceil_mode and (out - 1) * stride >= size + padding:
    out -= 1  # torch: the last window must start inside the input or its left padding
  high = (out - 1) * stride + window - size - padding
  return out, (padding, high)


def _geometry(x, window, stride, padding, ceil_mode):
  if x.ndim != 4:
    raise ValueError(f"pooling expects NHWC input [N, H, W, C]; got shape {x.shape}")
  window = _pair(window, "window")
  stride = _pair(window if stride is None else stride, "stride")
  padding = _pair(padding, "padding")
  geo = [_pool_geometry(x.shape[1 + i], window[i], stride[i], padding[i], ceil_mode, "HW"[i]) for i in range(2)]
  pads = tuple((lo, max(hi, 0)) for _, (lo, hi) in geo)
  # Rows and columns that no window reaches (floor mode) are cropped: negative padding has no gradient.
  x = x[:, :x.shape[1] + min(geo[0][1][1], 0), :x.shape[2] + min(geo[1][1][1], 0), :]
  return x, window, stride, tuple(g[0] for g in geo), pads


def _tiles(x, window, stride, pads) -> bool:
  return (window == stride and pads == ((0, 0), (0, 0))
          and x.shape[1] % window[0] == 0 and x.shape[2] % window[1] == 0)


def tiling_window(x: jax.Array, window: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                  ceil_mode: bool = False) -> tuple[jax.Array, tuple[int, int]] | None:
  """(x cropped to the rows and columns the windows reach, window) when these pooling arguments make
  non-overlapping windows that tile it (stride = window, no padding), else None.

  That case is a reshape then a reduction (and what cnnjax.fast.max_pool hands to a CPU kernel).
  """
  x, window, stride, _, pads = _geometry(x, window, stride, padding, ceil_mode)
  return (x, window) if _tiles(x, window, stride, pads) else None


def max_pool(x: jax.Array, window: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
             ceil_mode: bool = False) -> jax.Array:
  """Max pooling, as torch.nn.functional.max_pool2d (padding counts as -inf).

  Non-overlapping windows that tile the input are computed as reshape-then-max, whose gradient is
  elementwise (the reduce_window gradient lowers to a scatter, slow on CPU; test_gradients_avoid_scatter
  in tests/layers/test_pooling.py keeps it out). Ties share the gradient in that path, where torch
  gives it to the first maximum.
  [N, H, W, C] -> [N, H', W', C], H' = floor((H + 2P - F) / S) + 1 (ceil with ceil_mode).
  """
  x, window, stride, _, pads = _geometry(x, window, stride, padding, ceil_mode)
  if _tiles(x, window, stride, pads):
    n, h, w, c = x.shape
    return x.reshape(n, h // window[0], window[0], w // window[1], window[1], c).max(axis=(2, 4))
  init = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else int(jnp.iinfo(x.dtype).min)
  return lax.reduce_window(x, init, lax.max, (1, *window, 1), (1, *stride, 1), ((0, 0), *pads, (0, 0)))


def avg_pool(x: jax.Array, window: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
             ceil_mode: bool = False, count_include_pad: bool = True) -> jax.Array:
  """Average pooling, as torch.nn.functional.avg_pool2d (count_include_pad=True is torch's default).

  With count_include_pad the zero padding counts in the divisor, but the extra cells that ceil_mode
  adds beyond the padding do not (torch's rule). [N, H, W, C] -> [N, H', W', C].
  """
  x, window, stride, _, pads = _geometry(x, window, stride, padding, ceil_mode)
  if _tiles(x, window, stride, pads):
    n, h, w, c = x.shape
    return x.reshape(n, h // window[0], window[0], w // window[1], window[1], c).mean(axis=(2, 4))
  full = ((0, 0), *pads, (0, 0))
  dims, strides = (1, *window, 1), (1, *stride, 1)
  total = lax.reduce_window(x, 0, lax.add, dims, strides, full)
  h, w = x.shape[1:3]
  if count_include_pad:
    ph, pw = pads[0][0], pads[1][0]
    ones = jnp.ones((1, h + 2 * ph, w + 2 * pw, 1), x.dtype)
    mask_pads = ((0, 0), (0, pads[0][1] - ph), (0, pads[1][1] - pw), (0, 0))
  else:
    ones, mask_pads = jnp.ones((1, h, w, 1), x.dtype), full
  count = lax.reduce_window(ones, 0, lax.add, dims, strides, mask_pads)
  return total / count


def adaptive_avg_pool(x, output_size: tuple[int, int]):
  """Average over bins [floor(i H / h), ceil((i + 1) H / h)), as torch's adaptive_avg_pool2d.

  [N, H, W, C] -> [N, h, w, C]; the identity when (H, W) == output_size.
  """
  (h_in, w_in), (h_out, w_out) = x.shape[1:3], output_size
  if (h_in, w_in) == (h_out, w_out):
    return x

  def bins(n_in, n_out):
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]

  rows = [jnp.stack([x[:, r0:r1, c0:c1].mean(axis=(1, 2)) for c0, c1 in bins(w_in, w_out)], axis=1)
          for r0, r1 in bins(h_in, h_out)]
  return jnp.stack(rows, axis=1)


def max_pool_with_indices(x: jax.Array, window: IntOrPair = 2, stride: IntOrPair | None = None,
                          padding: IntOrPair = 0, ceil_mode: bool = False) -> tuple[jax.Array, jax.Array]:
  """Max pooling that also returns where each maximum came from, as max_pool2d(return_indices=True).

  SegNet (Badrinarayanan et al. 2017) stores these indices for `max_unpool`. Indices are torch's flat
  per-channel positions h * W + w in the unpadded input; the first maximum in row-major window order
  wins, and only it receives the gradient (as in torch).
  [N, H, W, C] -> ([N, H', W', C] values, [N, H', W', C] int32 indices).
  """
  n, h, w, c = x.shape
  x, window, stride, (oh, ow), pads = _geometry(x, window, stride, padding, ceil_mode)
  pos = jnp.arange(h * w, dtype=jnp.int32).reshape(h, w)[:x.shape[1], :x.shape[2]]
  if _tiles(x, window, stride, pads):
    kh, kw = window
    values = x.reshape(n, oh, kh, ow, kw, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, oh, ow, c, kh * kw)
    where = pos.reshape(oh, kh, ow, kw).transpose(0, 2, 1, 3).reshape(oh, ow, kh * kw)
  else:
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=jnp.array(-jnp.inf, x.dtype))
    pos = jnp.pad(pos, pads, constant_values=-1)
    values, where = [], []
    for i in range(window[0]):
      rows = slice(i, i + stride[0] * (oh - 1) + 1, stride[0])
      for j in range(window[1]):
        cols = slice(j, j + stride[1] * (ow - 1) + 1, stride[1])
        values.append(xp[:, rows, cols, :])
        where.append(pos[rows, cols])
    values = jnp.stack(values, axis=-1)  # [N, H', W', C, K]
    where = jnp.stack(where, axis=-1)  # [H', W', K]
  # a one-hot select rather than a gather: its gradient is elementwise (gathers transpose to scatters)
  chosen = jnp.arange(values.shape[-1]) == jnp.argmax(values, axis=-1)[..., None]
  y = jnp.where(chosen, values, jnp.zeros((), x.dtype)).sum(axis=-1)
  indices = jnp.where(chosen, where[None, :, :, None, :], 0).sum(axis=-1, dtype=jnp.int32)
  return y, indices


def max_unpool(y: jax.Array, indices: jax.Array, output_size: Sequence[int], *,
               non_overlapping: bool = False) -> jax.Array:
  """Puts each value back at its saved flat index h * W + w and zeros elsewhere, as max_unpool2d.

  SegNet's decoder upsampling. `output_size` is the pooled input's (H, W) (or its full NHWC shape).
  The gradient gathers the cotangent at each index (torch's rule, also for indices shared by
  overlapping windows). With `non_overlapping=True` (the indices come from windows equal to the
  stride that tile the output) it runs as repeat-and-mask instead of a scatter, with no scatter in
  its gradient either (scatters are slow on CPU); the result is the same.
  [N, H', W', C] values and int indices -> [N, H, W, C].
  """
  if y.shape != indices.shape or y.ndim != 4:
    raise ValueError(f"max_unpool needs NHWC values and indices of the same shape; got {y.shape} and {indices.shape}")
  out_h, out_w = tuple(output_size)[-3:-1] if len(output_size) == 4 else tuple(output_size)
  n, h, w, c = y.shape
  if non_overlapping:
    if out_h % h or out_w % w:
      raise ValueError(f"max_unpool(non_overlapping=True) needs output_size {(out_h, out_w)} to be a multiple of "
                       f"the pooled size {(h, w)}; pass non_overlapping=False")
    fh, fw = out_h // h, out_w // w
    up = lambda a: jnp.repeat(jnp.repeat(a, fh, axis=1), fw, axis=2)
    pos = jnp.arange(out_h * out_w, dtype=indices.dtype).reshape(1, out_h, out_w, 1)
    return jnp.where(up(indices) == pos, up(y), jnp.zeros((), y.dtype))
  flat_i = indices.transpose(0, 3, 1, 2).reshape(n, c, h * w)
  flat_out = _scatter_flat(y.transpose(0, 3, 1, 2).reshape(n, c, h * w), flat_i, out_h * out_w)
  return flat_out.reshape(n, c, out_h, out_w).transpose(0, 2, 3, 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _scatter_flat(values, indices, size):
  """[N, C, K] values at [N, C, K] flat indices into [N, C, size] zeros; the gradient gathers (as torch)."""
  n, c, _ = values.shape
  out = jnp.zeros((n, c, size), values.dtype)
  return out.at[jnp.arange(n)[:, None, None], jnp.arange(c)[None, :, None], indices].set(values, mode="drop")


def _scatter_flat_fwd(values, indices, size):
  return _scatter_flat(values, indices, size), indices


def _scatter_flat_bwd(size, indices, cotangent):
  del size
  gathered = jnp.take_along_axis(cotangent, jnp.clip(indices, 0, cotangent.shape[-1] - 1), axis=-1)
  valid = (indices >= 0) & (indices < cotangent.shape[-1])
  return jnp.where(valid, gathered, 0), None


_scatter_flat.defvjp(_scatter_flat_fwd, _scatter_flat_bwd)


def nearest_unpool(x: jax.Array, factor: int = 2) -> jax.Array:
  """Nearest-neighbour unpooling: each value is copied into a factor x factor block.

  The lecture's example: [[1, 2], [3, 4]] -> [[1,1,2,2],[1,1,2,2],[3,3,4,4],[3,3,4,4]].
  [N, H, W, C] -> [N, factor * H, factor * W, C].
  """
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def bed_of_nails_unpool(x: jax.Array, factor: int = 2) -> jax.Array:
  """"Bed of nails" unpooling: each value goes to the top-left of its factor x factor block, zeros elsewhere.

  The lecture's example: [[1, 2], [3, 4]] -> [[1,0,2,0],[0,0,0,0],[3,0,4,0],[0,0,0,0]].
  [N, H, W, C] -> [N, factor * H, factor * W, C].
  """
  gap = factor - 1
  return lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (0, gap, gap), (0, gap, gap), (0, 0, 0)))
