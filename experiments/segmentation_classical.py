"""Validates cnnjax's classical segmentation against scikit-learn / scikit-image on real photographs.

    PYTHONPATH=. python experiments/segmentation_classical.py

Writes results/segmentation/classical/{results.json,README.md} and overlay PNGs of every method on
scikit-learn's china photo:
- k-means from the same initial centres as sklearn KMeans: fraction of pixels with the same label;
- mean shift from the same seeds as sklearn MeanShift: number of modes, largest distance between
  matched modes (as a fraction of the bandwidth), label agreement;
- SLIC against skimage.segmentation.slic with the same parameters: segment counts, and boundary
  recall (fraction of ground-truth boundary pixels within 2 pixels of a superpixel boundary) on 100
  composed Fashion-MNIST test scenes whose garment boundaries are known exactly, plus how much of
  each method's photo boundaries the other recalls.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

OUT = Path("results/segmentation/classical")


def boundary_recall(truth_labels: np.ndarray, labels: np.ndarray, tolerance: int = 2) -> float:
  from cnnjax.segmentation.overlay import boundaries
  truth = boundaries(truth_labels)
  if not truth.any():
    return float("nan")
  near = ndimage.binary_dilation(boundaries(labels), iterations=tolerance)
  return float((truth & near).sum() / truth.sum())


def main() -> None:
  from skimage import data, segmentation as sk_seg
  from sklearn.cluster import KMeans, MeanShift
  from sklearn.datasets import load_sample_images

  from cnnjax import segmentation
  from cnnjax.segmentation import graph, overlay
  OUT.mkdir(parents=True, exist_ok=True)
  china, flower = load_sample_images().images
  results = {}

  rows = []
  for name, image in (("china", china), ("flower", flower)):
    points = np.asarray(segmentation.pixel_features(image[::4, ::4], 0.5))
    init = points[np.random.default_rng(0).choice(len(points), 8, replace=False)]
    _, labels, iterations = segmentation.kmeans(jnp.asarray(points), jnp.asarray(init))
    ref = KMeans(8, init=init, n_init=1, algorithm="lloyd").fit(points)
    rows.append({"image": f"{name} {image.shape[0] // 4}x{image.shape[1] // 4}", "k": 8,
                 "same_label_fraction": float((np.asarray(labels) == ref.labels_).mean()),
                 "iterations": int(iterations), "sklearn_iterations": int(ref.n_iter_)})
  results["kmeans"] = rows

  rows = []
  for name, image, bandwidth in (("china", china, 0.12), ("flower", flower, 0.15)):
    points = np.asarray(segmentation.pixel_features(image[::8, ::8]))
    seeds = points[np.random.default_rng(0).choice(len(points), 64, replace=False)]
    modes, keep, labels = segmentation.mean_shift(jnp.asarray(points), jnp.asarray(seeds), bandwidth)
    kept = np.flatnonzero(np.asarray(keep))
    ours = np.asarray(modes)[kept]
    ref = MeanShift(bandwidth=bandwidth, seeds=seeds).fit(points)
    distance = np.sqrt(((ref.cluster_centers_[:, None] - ours[None]) ** 2).sum(-1))
    to_ref = {int(kept[j]): i for i, j in enumerate(distance.argmin(1))}
    mapped = np.array([to_ref.get(int(l), -1) for l in np.asarray(labels)])
    rows.append({"image": f"{name} {points.shape[0]} pixels (every 8th)", "bandwidth": bandwidth,
                 "modes": len(ours), "sklearn_modes": len(ref.cluster_centers_),
                 "max_mode_distance_over_bandwidth": float(distance.min(1).max() / bandwidth),
                 "same_label_fraction": float((mapped == ref.labels_).mean())})
  results["mean_shift"] = rows

  rows = []
  for name in ("astronaut", "coffee", "chelsea"):
    image = getattr(data, name)()[::2, ::2]
    for n in (100, 400):
      raw = np.asarray(segmentation.slic(jnp.asarray(image), n, 10.0))
      ours = segmentation.enforce_connectivity(raw, int(0.5 * image.shape[0] * image.shape[1] / len(np.unique(raw))))
      ref = sk_seg.slic(image, n_segments=n, compactness=10, start_label=0)
      rows.append({"image": f"{name} {image.shape[0]}x{image.shape[1]}", "n_segments": n,
                   "segments": int(ours.max() + 1), "skimage_segments": int(ref.max() + 1),
                   "count_ratio": float((ours.max() + 1) / (ref.max() + 1)),
                   "recall_of_skimage_boundaries": boundary_recall(ref, ours),
                   "skimage_recall_of_ours": boundary_recall(ours, ref)})
  results["slic_photos"] = rows

  import tensorflow_datasets as tfds

  from cnnjax.data import sources
  scenes = tfds.as_numpy(sources.get_builder("fashion_scenes").as_dataset(split="test", batch_size=100).take(1))
  batch = next(iter(scenes))
  ours_recall, ref_recall, ours_count, ref_count = [], [], [], []
  for image, mask in zip(batch["image"], batch["segmentation_mask"][..., 0]):
    raw = np.asarray(segmentation.slic(jnp.asarray(image), 50, 0.1))
    ours = segmentation.enforce_connectivity(raw, int(0.5 * 64 * 64 / len(np.unique(raw))))
    ref = sk_seg.slic(image[..., 0], n_segments=50, compactness=0.1, start_label=0, channel_axis=None)
    ours_recall.append(boundary_recall(mask, ours))
    ref_recall.append(boundary_recall(mask, ref))
    ours_count.append(ours.max() + 1)
    ref_count.append(ref.max() + 1)
  results["slic_fashion_scenes"] = {
      "scenes": 100, "n_segments": 50, "compactness": 0.1, "tolerance_pixels": 2,
      "boundary_recall": float(np.nanmean(ours_recall)), "skimage_boundary_recall": float(np.nanmean(ref_recall)),
      "mean_segments": float(np.mean(ours_count)), "skimage_mean_segments": float(np.mean(ref_count))}

  small = china[::2, ::2]
  key = jax.random.key(0)
  pictures = {
      "kmeans": np.asarray(segmentation.kmeans_segment(jnp.asarray(small), key, 8, 0.5)),
      "meanshift": np.asarray(segmentation.mean_shift_segment(jnp.asarray(small), key, 0.12, stride=3)[0]),
      "slic": segmentation.enforce_connectivity(np.asarray(segmentation.slic(jnp.asarray(small), 200, 10.0)), 170),
      "felzenszwalb": graph.felzenszwalb(small, scale=200),
      "watershed": graph.watershed(small, markers=200),
  }
  results["china_overlays"] = {}
  for method, labels in pictures.items():
    overlay.save_png(OUT / f"china_{method}.png", overlay.boundary_overlay(small, labels))
    results["china_overlays"][method] = int(len(np.unique(labels)))

  (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
  md = ["# Classical segmentation against scikit-learn / scikit-image", "",
        "Generated by `PYTHONPATH=. python experiments/segmentation_classical.py` (numbers from results.json).", "",
        "## k-means from the same initial centres (sklearn KMeans, lloyd, tol 1e-4)", "",
        "| image | k | same label | iterations (ours / sklearn) |", "|---|---|---|---|"]
  md += [f"| {r['image']} | {r['k']} | {r['same_label_fraction']:.4f} | {r['iterations']} / {r['sklearn_iterations']} |"
         for r in results["kmeans"]]
  md += ["", "## Mean shift from the same seeds (flat kernel; sklearn MeanShift)", "",
         "| image | bandwidth | modes (ours / sklearn) | max mode distance / bandwidth | same label |",
         "|---|---|---|---|---|"]
  md += [f"| {r['image']} | {r['bandwidth']} | {r['modes']} / {r['sklearn_modes']} | "
         f"{r['max_mode_distance_over_bandwidth']:.2e} | {r['same_label_fraction']:.4f} |"
         for r in results["mean_shift"]]
  md += ["", "## SLIC (compactness 10) against skimage.segmentation.slic, with connectivity enforced", "",
         "| image | n_segments | segments (ours / skimage) | ratio | ours recalls skimage's boundaries | "
         "skimage recalls ours |", "|---|---|---|---|---|---|"]
  md += [f"| {r['image']} | {r['n_segments']} | {r['segments']} / {r['skimage_segments']} | {r['count_ratio']:.2f} | "
         f"{r['recall_of_skimage_boundaries']:.3f} | {r['skimage_recall_of_ours']:.3f} |"
         for r in results["slic_photos"]]
  f = results["slic_fashion_scenes"]
  md += ["", f"Boundary recall against exact garment boundaries of {f['scenes']} Fashion-MNIST test scenes "
         f"(n_segments {f['n_segments']}, compactness {f['compactness']}, tolerance {f['tolerance_pixels']} px): "
         f"ours {f['boundary_recall']:.3f} with {f['mean_segments']:.1f} segments, skimage "
         f"{f['skimage_boundary_recall']:.3f} with {f['skimage_mean_segments']:.1f} segments.", "",
         "Overlays on the china photo (214x320): " + ", ".join(
             f"[{m}](china_{m}.png) ({c} segments)" for m, c in results["china_overlays"].items()), "",
         "Speed: [speed.md](speed.md) (`PYTHONPATH=. python benchmarks/segmentation_speed.py`)."]
  (OUT / "README.md").write_text("\n".join(md) + "\n")
  print("\n".join(md))


if __name__ == "__main__":
  main()
