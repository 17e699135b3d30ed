"""CNN arithmetic: output sizes, weights of global / local / shared connectivity, 1x1-convolution cost, AlexNet shapes.

Why: the lecture's worked numbers, each computed by cnnjax itself (conv_output_size,
same_padding, connectivity_weights, count_params, count_multiply_adds, layer_table) and
cross-checked against the shapes and parameters of real linen layers.
"""

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.analysis import connectivity_weights, count_multiply_adds, count_params, layer_table
from cnnjax.layers.conv import Conv, conv_output_size, same_padding
from cnnjax.lecture import plotting


def output_sizes() -> dict:
  """N = 7, F = 3 at strides 1, 2, 3 (3 does not fit: the error text), 32 -> 28 -> 24, and same padding."""
  sizes = {}
  for stride in (1, 2, 3):
    try:
      sizes[f"N=7,F=3,S={stride}"] = conv_output_size(7, 3, stride)
    except ValueError as e:
      sizes[f"N=7,F=3,S={stride}"] = f"does not fit: {e}"
  stack = nn.Sequential([Conv(6, 5), Conv(10, 5)])
  rows = layer_table(stack, (1, 32, 32, 3))
  sizes["32x32x3 -> two 5x5 convs (layer_table)"] = [list(r["output_shape"]) for r in rows[1:]]
  sizes["32 -> 28 -> 24 (conv_output_size)"] = [32, conv_output_size(32, 5), conv_output_size(conv_output_size(32, 5), 5)]
  for f in (3, 5, 7):
    p = same_padding(f)
    shape = jax.eval_shape(lambda x, f=f, p=p: Conv(1, f, padding=p).init_with_output(jax.random.key(0), x)[0],
                           jax.ShapeDtypeStruct((1, 32, 32, 1), jnp.float32)).shape
    sizes[f"same padding F={f}"] = {"P": p, "N=7 ->": conv_output_size(7, f, 1, p), "32x32 conv output": list(shape[1:3])}
  return sizes


def connectivity() -> dict:
  """21 / 9 / 3 weights for 7 inputs and 3 hidden units with receptive field 3, from the formula and real layers."""
  x = jnp.zeros((1, 7, 1))
  layers = {"global": nn.Dense(3, use_bias=False),
            "local": nn.ConvLocal(1, (3,), strides=2, padding="VALID", use_bias=False),
            "shared": nn.Conv(1, (3,), strides=2, padding="VALID", use_bias=False)}
  counted = {}
  for name, layer in layers.items():
    inputs = x.reshape(1, 7) if name == "global" else x
    counted[name] = count_params(jax.eval_shape(layer.init, jax.random.key(0), inputs))
  return {"formula": connectivity_weights(num_inputs=7, num_hidden=3, receptive_field=3), "linen_layers": counted}


def one_by_one_cost() -> dict:
  """Multiplies of a 5x5 conv to 32 channels on 28x28x192, directly and after a 1x1 reduction to 16 channels."""
  shape = (1, 28, 28, 192)
  direct = nn.Sequential([Conv(32, 5, padding=2, use_bias=False)])
  bottleneck = nn.Sequential([Conv(16, 1, use_bias=False), Conv(32, 5, padding=2, use_bias=False)])
  return {"direct_5x5": count_multiply_adds(direct, shape), "1x1_then_5x5": count_multiply_adds(bottleneck, shape),
          "formula_direct": 28 * 28 * 32 * 5 * 5 * 192,
          "formula_1x1_then_5x5": 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16}


def alexnet_table(input_shape=(1, 227, 227, 3)) -> list[dict]:
  """layer_table of the zoo's AlexNet: name, module, output shape, parameters, multiply-adds per layer."""
  from cnnjax.models import get_model
  model = get_model("alexnet", num_classes=1000)
  return [{**row, "output_shape": list(row["output_shape"]) if isinstance(row["output_shape"], tuple)
           else row["output_shape"]} for row in layer_table(model, input_shape)]


def _strides_figure(out: Path) -> str:
  fig = plotting.new_figure(7, 3.2)
  axes = fig.subplots(3, 1)
  for ax, stride in zip(axes, (1, 2, 3)):
    ax.set_xlim(-0.5, 9.5)
    ax.set_ylim(-1.2, 1.2)
    ax.set_axis_off()
    for i in range(7):
      ax.add_patch(_rect(i - 0.45, -0.45, 0.9, 0.9, "0.85"))
    starts = list(range(0, 7, stride))
    for k, s in enumerate(starts):
      fits = s + 3 <= 7
      y = 0.55 + 0.12 * (k % 2)
      ax.plot([s - 0.4, s + 2.4], [y, y], color="tab:green" if fits else "tab:red", lw=2,
              ls="-" if fits else "--")
    try:
      text = f"stride {stride}: output {conv_output_size(7, 3, stride)}"
    except ValueError:
      text = f"stride {stride}: (7 - 3)/3 + 1 = 2.33, does not fit"
    ax.text(7.2, 0, text, va="center", fontsize=9)
  fig.suptitle("N = 7, F = 3: output size (N - F)/S + 1", fontsize=9)
  return plotting.save(fig, out, "cnn_output_sizes.png")


def _rect(x, y, w, h, color):
  from matplotlib.patches import Rectangle
  return Rectangle((x, y), w, h, facecolor=color, edgecolor="black")


def _connectivity_figure(out: Path, counts: dict) -> str:
  fig = plotting.new_figure(9, 2.8)
  axes = fig.subplots(1, 3)
  colors = ("tab:blue", "tab:orange", "tab:green")
  for ax, name in zip(axes, ("global", "local", "shared")):
    ax.set_axis_off()
    for h in range(3):
      hx = 1 + 2 * h
      inputs = range(7) if name == "global" else range(2 * h, 2 * h + 3)
      for k, i in enumerate(inputs):
        color = colors[k] if name == "shared" else "0.4"
        ax.plot([i, hx], [0, 1], color=color, lw=1.2)
    ax.scatter(range(7), [0] * 7, s=80, c="white", edgecolors="black", zorder=3)
    ax.scatter([1, 3, 5], [1] * 3, s=80, c="lightyellow", edgecolors="black", zorder=3)
    ax.set_title(f"{name}: {counts['formula'][name]} weights", fontsize=9)
  return plotting.save(fig, out, "cnn_connectivity.png")


def _alexnet_figure(out: Path, rows: list[dict]) -> str:
  leaves = _layer_rows(rows)
  table = [[r["name"], r["module"], "x".join(str(d) for d in r["output_shape"][1:]), f"{r['params']:,}",
            f"{r['multiply_adds']:,}"] for r in leaves]
  table.append(["total", "", "", f"{rows[0]['params']:,}", f"{rows[0]['multiply_adds']:,}"])
  fig = plotting.new_figure(8, 0.28 * len(table) + 0.8)
  ax = fig.subplots()
  ax.set_axis_off()
  t = ax.table(cellText=table, colLabels=["layer", "module", "output (HxWxC)", "parameters", "multiply-adds"],
               loc="center", cellLoc="right")
  t.auto_set_font_size(False)
  t.set_fontsize(8)
  return plotting.save(fig, out, "alexnet_shapes.png")


def _layer_rows(rows: list[dict]) -> list[dict]:
  """Top-level layers with weights or a shape change worth a row (dropout rows left out)."""
  return [r for r in rows if r["name"] and "/" not in r["name"] and r["module"] != "Dropout"]


def markdown_table(rows: list[dict]) -> str:
  lines = ["| layer | module | output shape | parameters | multiply-adds |", "|---|---|---|---:|---:|"]
  for r in _layer_rows(rows):
    lines.append(f"| {r['name']} | {r['module']} | {'x'.join(str(d) for d in r['output_shape'][1:])} "
                 f"| {r['params']:,} | {r['multiply_adds']:,} |")
  lines.append(f"| **total** | | | {rows[0]['params']:,} | {rows[0]['multiply_adds']:,} |")
  return "\n".join(lines)


def run(out: Path) -> plotting.Section:
  counts = connectivity()
  section = plotting.Section("5. CNN arithmetic")
  section.numbers = {"output_sizes": output_sizes(), "connectivity": counts, "one_by_one_cost": one_by_one_cost()}
  section.figures = [
      (_strides_figure(out), "a 3-wide filter on a 7-wide input: stride 1 gives 5 outputs, stride 2 gives 3, "
                             "stride 3 does not fit ((7 - 3)/3 + 1 = 2.33)"),
      (_connectivity_figure(out, counts), "7 inputs, 3 hidden units: fully connected 21 weights, locally connected "
                                          "(receptive field 3) 9, local with shared weights (a convolution) 3"),
  ]
  sizes, cost = section.numbers["output_sizes"], section.numbers["one_by_one_cost"]
  summary = (f"Output sizes: N = 7, F = 3 at stride 1 -> {sizes['N=7,F=3,S=1']}, stride 2 -> {sizes['N=7,F=3,S=2']}, "
             f"stride 3 -> does not fit; 32 -> 28 -> 24 with two 5x5 filters; zero padding (F - 1)/2 = 1, 2, 3 "
             f"for F = 3, 5, 7 keeps 32x32. Weights: {counts['formula']['global']} / {counts['formula']['local']} / "
             f"{counts['formula']['shared']}. 5x5 conv to 32 channels on 28x28x192: {cost['direct_5x5']:,} "
             f"multiplies; after a 1x1 reduction to 16 channels: {cost['1x1_then_5x5']:,}.")
  try:
    rows = alexnet_table()
  except KeyError as e:  # the model zoo has no alexnet in this checkout
    section.markdown = f"{summary}\n\nAlexNet shape table: not generated ({e})."
    return section
  section.numbers["alexnet_table"] = rows
  section.figures.append((_alexnet_figure(out, rows), "AlexNet's layers with output shapes, parameters and "
                                                       "multiply-adds per image, from cnnjax's layer_table"))
  section.markdown = f"{summary}\n\nAlexNet, per image (227x227x3):\n\n" + markdown_table(rows)
  return section
