"""Times the two lowerings of a transpose convolution side by side: zero-dilated input vs sub-pixel.

Why: cnnjax.layers.ConvTranspose lowers strided transpose convolutions sub-pixel (one dense
convolution with s*s*C_out maps, then depth-to-space) instead of convolving a zero-dilated input;
this measures what that buys on the upsamplings of the segmentation models, forward + backward.

    PYTHONPATH=. python benchmarks/transpose_conv.py [--repeats 10] [--out benchmarks/results/transpose_conv.json]

Prints a Markdown table (median ms per forward + backward, ratio) and writes JSON with the machine.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# (name, input [N, H, W, C_in], kernel, stride, padding, C_out, groups): FCN-8s' learned final 8x
# upsampling of 11 class maps on a 128x128 scene, its 2x skip upsamplings, FCN's fixed bilinear 8x
# (depthwise) and U-Net's 2x2/2 up-convolution at width 8.
CASES = (
    ("fcn8s final 8x, 16x16 kernel", (32, 16, 16, 11), 16, 8, 4, 11, 1),
    ("fcn8s skip 2x, 4x4 kernel", (32, 8, 8, 11), 4, 2, 1, 11, 1),
    ("bilinear 8x, depthwise", (32, 16, 16, 11), 16, 8, 4, 11, 11),
    ("U-Net up-conv 2x2/2", (32, 8, 8, 128), 2, 2, 0, 64, 1),
)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--out", default="benchmarks/results/transpose_conv.json")
  args = parser.parse_args(argv)

  from cnnjax.fast import process
  process.set_xla_flags(os.environ)  # as the cnnjax command runs
  import jax
  import jax.numpy as jnp

  from cnnjax.layers.transpose_conv import dilated_conv_transpose, subpixel_conv_transpose

  def timed(fn, *operands):
    step = jax.jit(jax.grad(lambda x, w: jnp.sum(fn(x, w) ** 2), argnums=(0, 1)))
    jax.block_until_ready(step(*operands))
    seconds = []
    for _ in range(args.repeats):
      start = time.perf_counter()
      jax.block_until_ready(step(*operands))
      seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)

  rows = []
  for name, shape, k, s, p, cout, groups in CASES:
    x = jax.random.normal(jax.random.key(0), shape)
    w = jax.random.normal(jax.random.key(1), (k, k, shape[-1] // groups, cout))
    dilated = timed(lambda x, w: dilated_conv_transpose(x, w, (s, s), (p, p), (0, 0), (1, 1), groups), x, w)
    subpixel = timed(lambda x, w: subpixel_conv_transpose(x, w, (s, s), (p, p), (0, 0), groups), x, w)
    rows.append({"case": name, "input": shape, "kernel": k, "stride": s, "padding": p, "features": cout,
                 "groups": groups, "dilated_ms": dilated, "subpixel_ms": subpixel, "speedup": dilated / subpixel})

  table = ["| case | input | dilated ms | sub-pixel ms | speed-up |", "|---|---|---:|---:|---:|"]
  table += [f"| {r['case']} | {'x'.join(map(str, r['input']))} | {r['dilated_ms']:.1f} | {r['subpixel_ms']:.1f} | "
            f"{r['speedup']:.1f}x |" for r in rows]
  print("\n".join(table))
  result = {"command": "PYTHONPATH=. python benchmarks/transpose_conv.py " + " ".join(sys.argv[1:] if argv is None
                                                                                        else argv),
            "machine": {"processor": platform.processor(), "cpu_count": os.cpu_count(),
                        "load_average": os.getloadavg()},
            "versions": {"jax": jax.__version__, "python": platform.python_version()},
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "repeats": args.repeats, "rows": rows,
            "markdown": "\n".join(table)}
  Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
