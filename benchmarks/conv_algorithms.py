"""oneDNN's direct and cnnjax's Winograd convolutions side by side, per shape of ResNet-20 and VGG-11-BN half.

    PYTHONPATH=. python benchmarks/conv_algorithms.py [--repeats 10] [--rounds 3]
        [--out benchmarks/results/conv_algorithms.json]

Each shape's forward, input gradient and filter gradient through cnnjax.kernels.onednn, with oneDNN's direct
algorithm and with cnnjax's Winograd kernel (cnnjax/kernels/winograd_avx2.h, forced on every shape it takes:
`winograd=onednn.WINOGRAD_ALWAYS`), interleaved round by round so load from elsewhere falls on both; the median
of --repeats calls per round, the rounds' median reported. The column "cnnjax picks" says whether the default
(`winograd=True`: where it pays) runs Winograd for the shape's forward: the library's thresholds (channels a
multiple of 16, maps of 4x4 or more; filter gradients from 8x8, for rounding) come from this table. The
Winograd kernel is the same with or without AVX-512; the direct convolutions are not, so run it once more under
the AVX2 caps (`ONEDNN_MAX_CPU_ISA=AVX2 XLA_FLAGS=--xla_cpu_max_isa=AVX2 ... --out
benchmarks/results/conv_algorithms_avx2.json`; the JSON records them) for an AVX2-only CPU's comparison.
Prints a Markdown table and writes JSON. Not a test.
"""

import argparse
import os
import statistics
import sys

import conv_kernels  # benchmarks/, this script's folder

# (name, batch, size, C_in, C_out): 3x3, stride 1, padding 1; ResNet-20 on CIFAR-10 and on Fashion-MNIST
# (benchmarks/time_to_accuracy.py's model)
SHAPES = [
    ("resnet20 stage 1 16->16 @32", 128, 32, 16, 16),
    ("resnet20 stage 2 32->32 @16", 128, 16, 32, 32),
    ("resnet20 stage 3 64->64 @8", 128, 8, 64, 64),
    ("resnet20 stage 1 16->16 @28", 128, 28, 16, 16),
    ("resnet20 stage 2 32->32 @14", 128, 14, 32, 32),
    ("resnet20 stage 3 64->64 @7", 128, 7, 64, 64),
    ("vgg11 half conv2 32->64 @16", 128, 16, 32, 64),
    ("vgg11 half conv3 64->128 @8", 128, 8, 64, 128),
    ("vgg11 half conv4 128->128 @8", 128, 8, 128, 128),
    ("vgg11 half conv5 128->256 @4", 128, 4, 128, 256),
    ("vgg11 half conv6 256->256 @4", 128, 4, 256, 256),
    ("vgg11 half conv7 256->256 @2", 128, 2, 256, 256),
]
PARTS = ("forward", "input_grad", "filter_grad")
ALGORITHMS = ("direct", "winograd")


def measure(repeats: int, rounds: int) -> list[dict]:
  """One row per shape: ms of each part per algorithm, whether Winograd ran and whether cnnjax picks it."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp
  import numpy as np

  from cnnjax.kernels import onednn

  rows = []
  rng = np.random.default_rng(0)
  strides, padding = (1, 1), ((1, 1), (1, 1))
  for name, n, size, c_in, c_out in SHAPES:
    x = jnp.asarray(rng.standard_normal((n, size, size, c_in)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in), jnp.float32)
    dy = jnp.asarray(rng.standard_normal((n, size, size, c_out)), jnp.float32)
    inputs = {"forward": (x, kernel), "input_grad": (dy, kernel), "filter_grad": (x, dy)}
    calls = {
        algorithm: {
            "forward": jax.jit(lambda x, k, w=winograd: onednn.conv2d(x, k, strides, padding, winograd=w)),
            "input_grad": jax.jit(lambda dy, k, w=winograd: onednn.input_grad(dy, k, x.shape, strides, padding, w)),
            "filter_grad": jax.jit(lambda x, dy, w=winograd: onednn.filter_grad(x, dy, kernel.shape, strides,
                                                                                 padding, w))}
        for algorithm, winograd in (("direct", False), ("winograd", onednn.WINOGRAD_ALWAYS))}

    def runs_winograd(winograd) -> bool:
      before = onednn.call_totals()["winograd_calls"]
      jax.block_until_ready(onednn.conv2d(x, kernel, strides, padding, winograd=winograd))
      return onednn.call_totals()["winograd_calls"] > before

    row = {"shape": name, "batch": n, "size": size, "c_in": c_in, "c_out": c_out,
           "gflop_per_part": 2 * n * size * size * 9 * c_in * c_out / 1e9,
           "winograd_ran": runs_winograd(onednn.WINOGRAD_ALWAYS), "cnnjax_picks_winograd": runs_winograd(True)}
    samples = {(a, p): [] for a in ALGORITHMS for p in PARTS}
    for _ in range(rounds):
      for part in PARTS:
        for algorithm in ALGORITHMS:
          samples[algorithm, part].append(conv_kernels.median_ms(calls[algorithm][part], inputs[part], repeats))
    for (algorithm, part), values in samples.items():
      row[f"{algorithm}_{part}_ms"] = statistics.median(values)
    rows.append(row)
    total = {a: sum(row[f"{a}_{p}_ms"] for p in PARTS) for a in ALGORITHMS}
    print(f"{name}: direct {total['direct']:.2f} ms, winograd {total['winograd']:.2f} ms"
          f"{'' if row['winograd_ran'] else ' (ran direct)'}; cnnjax picks "
          f"{'winograd' if row['cnnjax_picks_winograd'] else 'direct'}", flush=True)
  return rows


def markdown(rows: list[dict]) -> str:
  lines = ["| shape | GFLOP per part | Winograd ran | cnnjax picks | forward ms direct / Winograd | input grad | "
           "filter grad | all three: direct / Winograd |", "|---|---:|:---:|:---:|---:|---:|---:|---:|"]
  for r in rows:
    cells = [f"{r[f'direct_{p}_ms']:.2f} / {r[f'winograd_{p}_ms']:.2f}" for p in PARTS]
    direct, winograd = (sum(r[f"{a}_{p}_ms"] for p in PARTS) for a in ALGORITHMS)
    picks = "Winograd" if r["cnnjax_picks_winograd"] else "direct"
    lines.append(f"| {r['shape']} | {r['gflop_per_part']:.2f} | {'yes' if r['winograd_ran'] else 'no'} | {picks} | "
                 f"{' | '.join(cells)} | {direct:.2f} / {winograd:.2f} ({direct / winograd:.2f}x) |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--out", default="benchmarks/results/conv_algorithms.json")
  args = parser.parse_args(argv)
  isa_limits = {k: os.environ.get(k, "") for k in ("ONEDNN_MAX_CPU_ISA", "XLA_FLAGS")}  # the caller's, before ours
  if not conv_kernels.start_onednn():
    return 1
  from cnnjax.kernels import onednn  # pylint: disable=import-outside-toplevel
  rows = measure(args.repeats, args.rounds)
  table = markdown(rows)
  print(table)
  conv_kernels.write(conv_kernels.record("conv_algorithms.py", argv, table, isa_limits=isa_limits,
                                         winograd_status=onednn.winograd_status(), repeats=args.repeats,
                                         rounds=args.rounds, rows=rows), args.out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
