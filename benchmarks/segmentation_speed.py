"""Speed of cnnjax's classical segmentation (JAX, jit) against scikit-learn / scikit-image on the same photos.

    PYTHONPATH=. python benchmarks/segmentation_speed.py [--repeats 3] [--json out.json]

Prints a Markdown table: median seconds per image after one warm-up call (so JAX's compile time is
excluded and reported separately), on scikit-learn's two sample photos shrunk to 214x320 and
scikit-image's astronaut at 256x256. Not part of the test suite.
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np


def _time(fn, repeats: int) -> tuple[float, float]:
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times), first


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--json", help="also write the rows to this JSON file")
  args = parser.parse_args()

  from skimage import data, segmentation as sk_seg
  from sklearn.cluster import KMeans, MeanShift
  from sklearn.datasets import load_sample_images

  from cnnjax.segmentation import kmeans, mean_shift, pixel_features, slic

  china, flower = (im[::2, ::2] for im in load_sample_images().images)
  astronaut = data.astronaut()[::2, ::2]
  rows = []

  def add(method, image_name, ours, theirs, reference_name):
    ours_s, compile_s = _time(ours, args.repeats)
    theirs_s, _ = _time(theirs, args.repeats)
    rows.append({"method": method, "image": image_name, "cnnjax_s": ours_s, "cnnjax_first_call_s": compile_s,
                 "reference": reference_name, "reference_s": theirs_s, "speedup": theirs_s / ours_s})

  for name, image in (("china 214x320", china), ("flower 214x320", flower)):
    points = np.asarray(pixel_features(image, 0.5))
    init = points[np.random.default_rng(0).choice(len(points), 8, replace=False)]
    add("k-means (k=8, RGB+xy)", name, lambda: kmeans(jnp.asarray(points), jnp.asarray(init))[1],
        lambda: KMeans(8, init=init, n_init=1, algorithm="lloyd").fit(points).labels_, "sklearn KMeans")
    small = np.asarray(pixel_features(image[::4, ::4]))
    seeds = small[np.random.default_rng(0).choice(len(small), 64, replace=False)]
    add("mean shift (h=0.15, 64 seeds)", f"{name} / 4",
        lambda: mean_shift(jnp.asarray(small), jnp.asarray(seeds), 0.15)[2],
        lambda: MeanShift(bandwidth=0.15, seeds=seeds).fit(small).labels_, "sklearn MeanShift")
  for name, image in (("astronaut 256x256", astronaut), ("china 214x320", china)):
    add("SLIC (200 segments, m=10)", name, lambda: slic(jnp.asarray(image), 200, 10.0),
        lambda: sk_seg.slic(image, n_segments=200, compactness=10, start_label=0, enforce_connectivity=False),
        "skimage slic")

  print(f"JAX {jax.__version__} on {jax.devices()[0].platform}; median of {args.repeats} after a warm-up call\n")
  print("| method | image | cnnjax s | first call s (compile) | reference | reference s | reference / cnnjax |")
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['method']} | {r['image']} | {r['cnnjax_s']:.3f} | {r['cnnjax_first_call_s']:.2f} | "
          f"{r['reference']} | {r['reference_s']:.3f} | {r['speedup']:.2f} |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"jax": jax.__version__, "platform": jax.devices()[0].platform, "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
