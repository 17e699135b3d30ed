"""Classical segmentation on real photographs shipped in packages, against scikit-learn / scikit-image."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.segmentation import (enforce_connectivity, kmeans, kmeans_segment_batch, mean_shift, pixel_features,
                                 rgb_to_lab, slic, slic_batch)
from cnnjax.segmentation.graph import felzenszwalb, watershed

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="real photos come from scikit-learn")
skimage_data = pytest.importorskip("skimage.data", reason="real photos come from scikit-image")


@pytest.fixture(scope="module")
def photos():
  china, flower = sklearn_datasets.load_sample_images().images
  return china, flower


def test_rgb_to_lab_matches_skimage(photos):
  from skimage.color import rgb2lab
  rgb = photos[0][::16, ::16] / 255.0
  np.testing.assert_allclose(rgb_to_lab(rgb), rgb2lab(rgb), atol=2e-3)


def test_kmeans_from_the_same_centres_gives_sklearns_assignment(photos):
  from sklearn.cluster import KMeans
  points = np.asarray(pixel_features(photos[0][::8, ::8], position_weight=0.5))  # 54 x 80 pixels, RGB + xy
  init = points[np.random.default_rng(0).choice(len(points), 6, replace=False)]
  _, labels, _ = kmeans(jnp.asarray(points), jnp.asarray(init))  # default tol=1e-4, as sklearn's
  reference = KMeans(6, init=init, n_init=1, algorithm="lloyd").fit(points)
  np.testing.assert_array_equal(np.asarray(labels), reference.labels_)
  # run to strict convergence, the centres agree too (sklearn counts one more, confirming, iteration)
  centres, labels, iterations = kmeans(jnp.asarray(points), jnp.asarray(init), tol=0.0)
  reference = KMeans(6, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(points)
  np.testing.assert_array_equal(np.asarray(labels), reference.labels_)
  np.testing.assert_allclose(centres, reference.cluster_centers_, atol=1e-5)
  assert abs(int(iterations) - reference.n_iter_) <= 1


def test_mean_shift_finds_sklearns_modes(photos):
  from sklearn.cluster import MeanShift
  points = np.asarray(pixel_features(photos[1][::12, ::12]))  # 36 x 54 pixels, RGB in [0, 1]
  seeds = points[np.random.default_rng(0).choice(len(points), 48, replace=False)]
  bandwidth = 0.15
  modes, keep, labels = mean_shift(jnp.asarray(points), jnp.asarray(seeds), bandwidth)
  ours = np.asarray(modes)[np.asarray(keep)]
  reference = MeanShift(bandwidth=bandwidth, seeds=seeds).fit(points)
  assert len(ours) == len(reference.cluster_centers_)
  distance = np.sqrt(((reference.cluster_centers_[:, None] - ours[None]) ** 2).sum(-1))
  assert distance.min(1).max() < 1e-3 * bandwidth  # every sklearn mode has one of ours within 0.1% of h
  match = distance.argmin(1)  # sklearn mode -> our kept mode
  ours_to_sklearn = {int(np.flatnonzero(np.asarray(keep))[m]): i for i, m in enumerate(match)}
  mapped = np.array([ours_to_sklearn[int(l)] for l in np.asarray(labels)])
  assert (mapped == reference.labels_).mean() > 0.999


def test_gaussian_kernel_modes_are_fixed_points():
  rng = np.random.default_rng(0)
  points = np.concatenate([rng.normal(0, 0.05, (100, 2)), rng.normal(1, 0.05, (100, 2))]).astype(np.float32)
  modes, keep, labels = mean_shift(jnp.asarray(points), jnp.asarray(points[::20]), 0.2, kernel="gaussian")
  kept = np.asarray(modes)[np.asarray(keep)]
  assert len(kept) == 2
  np.testing.assert_allclose(np.sort(kept[:, 0]), [0, 1], atol=0.05)
  assert len(np.unique(np.asarray(labels)[:100])) == 1


@pytest.mark.parametrize("name,n_segments", [("astronaut", 100), ("coffee", 400)])
def test_slic_segment_count_within_20_percent_of_skimage(name, n_segments):
  from skimage.segmentation import slic as sk_slic
  image = getattr(skimage_data, name)()[::2, ::2]
  ours = np.asarray(slic(jnp.asarray(image), n_segments, 10.0))
  ours = enforce_connectivity(ours, int(0.5 * image.shape[0] * image.shape[1] / (len(np.unique(ours)))))
  reference = sk_slic(image, n_segments=n_segments, compactness=10, start_label=0)
  count, expected = ours.max() + 1, reference.max() + 1
  assert abs(count - expected) <= 0.2 * expected, (count, expected)


def test_batched_methods_equal_one_by_one(photos):
  images = jnp.stack([photos[0][::16, ::16], photos[1][::16, ::16]])
  keys = jax.random.split(jax.random.key(0), 2)
  batched = kmeans_segment_batch(images, keys, k=4)
  from cnnjax.segmentation import kmeans_segment
  for i in range(2):
    np.testing.assert_array_equal(batched[i], kmeans_segment(images[i], keys[i], k=4))
  np.testing.assert_array_equal(slic_batch(images, 20)[1], slic(images[1], 20))


def test_felzenszwalb_and_watershed_label_every_pixel(photos):
  image = photos[0][::8, ::8]
  for labels in (felzenszwalb(image, scale=100), watershed(image, markers=30)):
    assert labels.shape == image.shape[:2] and labels.min() == 0
    assert 2 <= labels.max() + 1 <= image.shape[0] * image.shape[1] // 10


def test_small_region_joins_the_neighbour_it_shares_most_border_with():
  """The 2-pixel region borders 4 pixels of the left region and 2 of the right; in a tie, the first region wins."""
  labels = np.array([[0, 0, 0, 1, 1, 1],
                     [0, 0, 2, 1, 1, 1],
                     [0, 0, 2, 1, 1, 1],
                     [0, 0, 0, 1, 1, 1]])
  out = enforce_connectivity(labels, min_size=3)
  assert len(np.unique(out)) == 2 and out[1, 2] == out[2, 2] == out[0, 0] != out[0, 5]
  tie = enforce_connectivity(np.array([[0, 0, 2, 1, 1], [0, 0, 2, 1, 1]]), min_size=3)
  assert tie[0, 2] == tie[0, 0] != tie[0, 4]


def test_noise_fragments_merge_into_the_large_regions():
  """25 blocks of 30x30 with 30% of the pixels noise: about 7,000 fragments, each merged into its block."""
  rng = np.random.default_rng(0)
  blocks = np.kron(np.arange(25).reshape(5, 5), np.ones((30, 30), int))
  labels = np.where(rng.random(blocks.shape) < 0.3, rng.integers(25, 75, blocks.shape), blocks)
  out = enforce_connectivity(labels, min_size=200)
  assert len(np.unique(out)) == 25 and np.bincount(out.ravel()).min() >= 200


def test_mean_shift_segments_an_image_with_fewer_pixels_than_seeds():
  from cnnjax.segmentation import mean_shift_segment
  image = jnp.asarray(np.array([[[0, 0, 0], [255, 255, 255]]] * 3, np.uint8))  # 3x2: 6 pixels, 128 seeds asked
  labels, modes = mean_shift_segment(image, jax.random.key(0), 0.2)
  assert int(modes) == 2 and (np.asarray(labels) == np.asarray(labels)[0]).all() and labels[0, 0] != labels[0, 1]
