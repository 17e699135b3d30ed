"""Upsampling: transpose convolution as multiplication by the transposed convolution matrix, and unpooling.

Why: the lecture writes a 1-D convolution (kernel (x, y, z), padding 1) as a matrix X acting
on the input, and the transpose convolution as X^T; unpooling (nearest neighbour, bed of
nails, max unpooling with the pooling's switches) is its fixed counterpart. All operations
are cnnjax's layers (Conv, ConvTranspose, pooling); the matrices are their Jacobians.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.layers import pooling
from cnnjax.layers.conv import Conv
from cnnjax.layers.transpose_conv import ConvTranspose
from cnnjax.lecture import plotting

KERNEL = (1.0, 2.0, 3.0)          # (x, y, z) of the lecture, as distinct numbers so the matrices stay readable
SYMBOLS = {1.0: "x", 2.0: "y", 3.0: "z"}
INPUT_LENGTH = 4                  # (a, b, c, d)
UNPOOL_INPUT = ((1.0, 2.0), (3.0, 4.0))
MAX_POOL_INPUT = ((1.0, 2.0, 6.0, 3.0), (3.0, 5.0, 2.0, 1.0), (1.0, 2.0, 2.0, 1.0), (7.0, 3.0, 4.0, 8.0))


def _kernel_variables(kernel=KERNEL) -> dict:
  return {"params": {"kernel": jnp.asarray(kernel, jnp.float32).reshape(1, 3, 1, 1)}}


def conv_1d(a: jax.Array, stride: int, kernel=KERNEL) -> jax.Array:
  """cnnjax Conv with kernel (x, y, z), padding 1, `stride`, on a 1-D signal: [L] -> [L']."""
  layer = Conv(1, (1, 3), stride=(1, stride), padding=(0, 1), use_bias=False)
  return layer.apply(_kernel_variables(kernel), a.reshape(1, 1, -1, 1)).ravel()


def conv_transpose_1d(a: jax.Array, stride: int, output_length: int, kernel=KERNEL) -> jax.Array:
  """cnnjax ConvTranspose with the same kernel, stride and padding 1; output_padding restores `output_length`."""
  natural = (a.shape[0] - 1) * stride - 2 + 3
  layer = ConvTranspose(1, (1, 3), stride=(1, stride), padding=(0, 1),
                        output_padding=(0, output_length - natural), use_bias=False)
  return layer.apply(_kernel_variables(kernel), a.reshape(1, 1, -1, 1)).ravel()


def conv_matrix(stride: int, length: int = INPUT_LENGTH, kernel=KERNEL) -> np.ndarray:
  """The matrix X of the convolution (its Jacobian): conv_1d(a) = X a, [L', L]."""
  return np.asarray(jax.jacobian(lambda a: conv_1d(a, stride, kernel))(jnp.zeros((length,), jnp.float32)))


def transpose_check(stride: int, length: int = INPUT_LENGTH) -> dict[str, np.ndarray]:
  """X, and ConvTranspose(a) next to X^T a for a = (1, 2, ...) of the convolution's output length."""
  x = conv_matrix(stride, length)
  a = jnp.arange(1.0, x.shape[0] + 1.0)
  return {"X": x, "a": np.asarray(a), "conv_transpose": np.asarray(conv_transpose_1d(a, stride, length)),
          "X_T_a": x.T @ np.asarray(a)}


def unpooling_examples() -> dict[str, np.ndarray]:
  """The lecture's 2x2 -> 4x4 examples: nearest neighbour, bed of nails, and max unpooling with switches."""
  small = jnp.asarray(UNPOOL_INPUT)[None, :, :, None]
  pool_in = jnp.asarray(MAX_POOL_INPUT)[None, :, :, None]
  pooled, indices = pooling.max_pool_with_indices(pool_in, 2)
  sq = lambda t: np.asarray(t)[0, :, :, 0]
  return {"input": sq(small), "nearest": sq(pooling.nearest_unpool(small, 2)),
          "bed_of_nails": sq(pooling.bed_of_nails_unpool(small, 2)),
          "max_pool_input": sq(pool_in), "max_pooled": sq(pooled), "switches": sq(indices),
          "max_unpooled": sq(pooling.max_unpool(small, indices, (4, 4)))}


def _show_matrix(ax, m, title, symbolic=False, fmt="{:g}"):
  ax.imshow(m, cmap="Blues", vmin=0, vmax=2 * max(float(np.abs(m).max()), 1.0), aspect="auto")
  for (i, j), v in np.ndenumerate(m):
    text = SYMBOLS.get(float(v), fmt.format(v)) if symbolic else fmt.format(v)
    if symbolic and v == 0:
      text = "0"
    ax.text(j, i, text, ha="center", va="center", fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title, fontsize=8)


def _transpose_figure(out: Path, checks: dict) -> str:
  fig = plotting.new_figure(10, 4.6)
  axes = fig.subplots(2, 4, width_ratios=(4, 2.5, 1, 1.6))
  for row, (stride, c) in enumerate(checks.items()):
    _show_matrix(axes[row, 0], c["X"], f"stride {stride}, pad 1: conv matrix X (input a,b,c,d)", symbolic=True)
    _show_matrix(axes[row, 1], c["X"].T, "X^T", symbolic=True)
    _show_matrix(axes[row, 2], c["a"][:, None], "a")
    _show_matrix(axes[row, 3], np.stack([c["X_T_a"], c["conv_transpose"]], 1),
                 "X^T a | ConvTranspose(a)", fmt="{:g}")
  fig.suptitle("kernel (x, y, z) = (1, 2, 3): the transpose convolution multiplies by X^T", fontsize=9)
  return plotting.save(fig, out, "upsampling_transpose_conv.png")


def _unpool_figure(out: Path, ex: dict) -> str:
  fig = plotting.new_figure(11, 4.6)
  axes = fig.subplots(2, 4)
  panels = [("input", "input"), ("nearest", "nearest-neighbour unpooling"), ("bed_of_nails", "bed of nails"), None,
            ("max_pool_input", "max pooling input"), ("max_pooled", "2x2 max pooled (switches kept)"),
            ("input", "later-layer values"), ("max_unpooled", "max unpooling at the switches")]
  for ax, panel in zip(axes.ravel(), panels):
    if panel is None:
      ax.set_axis_off()
      continue
    _show_matrix(ax, ex[panel[0]], panel[1])
  return plotting.save(fig, out, "upsampling_unpooling.png")


def run(out: Path) -> plotting.Section:
  checks = {stride: transpose_check(stride) for stride in (1, 2)}
  examples = unpooling_examples()
  section = plotting.Section("7. Upsampling")
  section.figures = [
      (_transpose_figure(out, checks),
       "1-D convolution with kernel (x, y, z), padding 1, stride 1 and 2, written as a matrix X; cnnjax's "
       "ConvTranspose with the same kernel equals multiplication by X^T (stride 2 doubles the length)"),
      (_unpool_figure(out, examples),
       "nearest-neighbour and bed-of-nails unpooling of [[1, 2], [3, 4]]; max unpooling puts values back at "
       "the positions the 2x2 max pooling took its maxima from"),
  ]
  section.numbers = {
      **{f"stride{s}_conv_matrix": c["X"].tolist() for s, c in checks.items()},
      **{f"stride{s}_conv_transpose_of_{c['a'].tolist()}": c["conv_transpose"].tolist() for s, c in checks.items()},
      **{f"stride{s}_X_T_a": c["X_T_a"].tolist() for s, c in checks.items()},
      **{k: v.tolist() for k, v in examples.items()},
  }
  return section
