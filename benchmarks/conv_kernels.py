"""XLA's CPU convolutions against cnnjax's oneDNN ones, forward, input gradient and filter gradient.

    PYTHONPATH=. python benchmarks/conv_kernels.py [--repeats 10] [--out benchmarks/results/conv_kernels.json]

The convolution shapes of a CIFAR ResNet-20 step at batch 128 and of LeNet-5 at batch 256, each
timed in one process, side by side: lax.conv_general_dilated (and its VJP) under the `cnnjax`
command's XLA flags, and cnnjax.kernels.onednn's FFI calls. Median of --repeats calls after one
warm-up each. Prints a Markdown table with the time ratios and writes JSON. Not part of the tests.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# (name, batch, height, width, C_in, C_out, kernel, stride, padding)
SHAPES = [
    ("resnet20 stem 3->16", 128, 32, 32, 3, 16, 3, 1, 1),
    ("resnet20 stage 1 16->16", 128, 32, 32, 16, 16, 3, 1, 1),
    ("resnet20 down 16->32 /2", 128, 32, 32, 16, 32, 3, 2, 1),
    ("resnet20 stage 2 32->32", 128, 16, 16, 32, 32, 3, 1, 1),
    ("resnet20 down 32->64 /2", 128, 16, 16, 32, 64, 3, 2, 1),
    ("resnet20 stage 3 64->64", 128, 8, 8, 64, 64, 3, 1, 1),
    ("lenet5 conv1 1->6 5x5", 256, 28, 28, 1, 6, 5, 1, 2),
    ("lenet5 conv2 6->16 5x5", 256, 14, 14, 6, 16, 5, 1, 0),
]
PARTS = ("forward", "input_grad", "filter_grad")


def median_ms(fn, args, repeats: int) -> float:
  """Median milliseconds of `repeats` calls of fn(*args), after one warm-up call."""
  import jax  # pylint: disable=import-outside-toplevel
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1000 * statistics.median(times)


def measure(repeats: int) -> list[dict]:
  """One row per shape: ms of each part for lax and oneDNN."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp
  import numpy as np
  from jax import lax

  from cnnjax.kernels import onednn

  rows = []
  rng = np.random.default_rng(0)
  for name, n, h, w, c_in, c_out, k, stride, pad in SHAPES:
    strides, padding = (stride, stride), ((pad, pad), (pad, pad))
    x = jnp.asarray(rng.standard_normal((n, h, w, c_in)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((k, k, c_in, c_out)) / np.sqrt(k * k * c_in), jnp.float32)
    conv = lambda x, kernel: lax.conv_general_dilated(x, kernel, strides, padding,  # noqa: E731
                                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
    dy = jnp.asarray(rng.standard_normal(conv(x, kernel).shape), jnp.float32)
    variants = {
        "lax": {"forward": jax.jit(conv),
                "input_grad": jax.jit(lambda dy, kernel: jax.vjp(lambda x: conv(x, kernel), x)[1](dy)[0]),
                "filter_grad": jax.jit(lambda x, dy: jax.vjp(lambda kernel: conv(x, kernel), kernel)[1](dy)[0])},
        "onednn": {"forward": jax.jit(lambda x, kernel: onednn.conv2d(x, kernel, strides, padding)),
                   "input_grad": jax.jit(lambda dy, kernel: onednn.input_grad(dy, kernel, x.shape, strides, padding)),
                   "filter_grad": jax.jit(lambda x, dy: onednn.filter_grad(x, dy, kernel.shape, strides, padding))},
    }
    inputs = {"forward": (x, kernel), "input_grad": (dy, kernel), "filter_grad": (x, dy)}
    row = {"shape": name, "batch": n, "input": [h, w, c_in], "c_out": c_out, "kernel": k, "stride": stride,
           "padding": pad, "gflop": 2 * float(np.prod(dy.shape)) * k * k * c_in / 1e9}
    for part in PARTS:  # interleaved per part, so load from elsewhere falls on both
      for impl in ("lax", "onednn"):
        row[f"{impl}_{part}_ms"] = median_ms(variants[impl][part], inputs[part], repeats)
    rows.append(row)
    print(f"{name}: lax {sum(row[f'lax_{p}_ms'] for p in PARTS):.2f} ms, "
          f"oneDNN {sum(row[f'onednn_{p}_ms'] for p in PARTS):.2f} ms", flush=True)
  return rows


def markdown(rows: list[dict]) -> str:
  lines = ["| shape | GFLOP per part | forward ms lax / oneDNN | input grad ms lax / oneDNN | "
           "filter grad ms lax / oneDNN | all three: lax / oneDNN |", "|---|---:|---:|---:|---:|---:|"]
  totals = {"lax": 0.0, "onednn": 0.0}
  for r in rows:
    cells = []
    for part in PARTS:
      a, b = r[f"lax_{part}_ms"], r[f"onednn_{part}_ms"]
      cells.append(f"{a:.2f} / {b:.2f} ({a / b:.1f}x)")
    lax_ms, dnn_ms = (sum(r[f"{impl}_{p}_ms"] for p in PARTS) for impl in ("lax", "onednn"))
    totals["lax"] += lax_ms
    totals["onednn"] += dnn_ms
    lines.append(f"| {r['shape']} | {r['gflop']:.2f} | {' | '.join(cells)} | {lax_ms / dnn_ms:.1f}x |")
  lines.append(f"| **sum** | | | | | {totals['lax']:.1f} / {totals['onednn']:.1f} ms "
               f"({totals['lax'] / totals['onednn']:.1f}x) |")
  return "\n".join(lines)


def start_onednn() -> bool:
  """Sets the cnnjax command's XLA flags (before the first JAX call); whether oneDNN's convolutions are on (if
  not, says why on stderr)."""
  from cnnjax.fast import process  # pylint: disable=import-outside-toplevel
  process.set_xla_flags(os.environ)
  from cnnjax.kernels import onednn  # pylint: disable=import-outside-toplevel
  reason = onednn.unavailable_reason()
  if reason:
    print(f"oneDNN convolutions unavailable: {reason}", file=sys.stderr)
  return reason is None


def record(script: str, argv: list[str] | None, table: str, **fields) -> dict:
  """The JSON of a run of benchmarks/`script`: its command, machine, versions, commit, XLA flags, `fields` and
  Markdown `table`."""
  sys.path.insert(0, str(Path(__file__).resolve().parent))
  import machine  # pylint: disable=import-outside-toplevel
  command = " ".join([f"PYTHONPATH=. python benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])
  return {"command": command, "machine": machine.cpu_description(), "versions": machine.versions(),
          "git_commit": machine.git_commit(), "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), **fields,
          "markdown": table}


def write(results: dict, out: str) -> None:
  path = Path(out)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(results, indent=1))
  print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--out", default="benchmarks/results/conv_kernels.json")
  args = parser.parse_args(argv)
  if not start_onednn():
    return 1
  rows = measure(args.repeats)
  table = markdown(rows)
  print(table)
  write(record("conv_kernels.py", argv, table, repeats=args.repeats, rows=rows), args.out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
