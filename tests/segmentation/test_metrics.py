"""Segmentation loss and metrics: ignore label, confusion-matrix mIoU, padded batches, data parallelism."""

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.train.tasks import Segmentation, confusion_matrix, iou_from_confusion
from tests.parallel import subprocesses


def test_mean_iou_of_a_hand_made_confusion_matrix():
  # rows: truth, columns: prediction
  confusion = np.array([[50, 2, 3],
                        [4, 30, 1],
                        [0, 5, 5]])
  iou, present = iou_from_confusion(confusion)
  np.testing.assert_allclose(iou, [50 / 59, 30 / 42, 5 / 14])
  metrics = Segmentation().finalize({"confusion": confusion, "loss_sum": 10.0, "pixels": 100.0, "count": 2.0})
  assert np.isclose(metrics["mean_iou"], (50 / 59 + 30 / 42 + 5 / 14) / 3)
  assert np.isclose(metrics["accuracy"], 85 / 100)
  assert np.isclose(metrics["loss"], 0.1)


def test_classes_absent_from_labels_and_predictions_do_not_count():
  confusion = np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]])
  metrics = Segmentation().finalize({"confusion": confusion, "loss_sum": 0.0, "pixels": 8.0, "count": 1.0})
  assert np.isclose(metrics["mean_iou"], 3 / 5)
  assert "iou_class2" not in metrics


def test_confusion_matrix_counts_pixels():
  labels = jnp.array([[0, 1], [2, 1]])
  predictions = jnp.array([[0, 2], [2, 1]])
  counts = confusion_matrix(labels, predictions, jnp.ones((2, 2)), 3)
  np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def _random(shape, seed=0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=shape), jnp.float32)


def test_ignore_label_is_ignored_by_loss_and_metrics():
  task = Segmentation(ignore_label=255)
  logits = _random((2, 4, 4, 3))
  labels = jnp.asarray(np.random.default_rng(1).integers(0, 3, (2, 4, 4)), jnp.int32)
  ignored = labels.at[:, :2].set(255)
  loss, metrics = task.loss(logits, ignored)
  expected = optax.softmax_cross_entropy_with_integer_labels(logits[:, 2:], labels[:, 2:]).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  # changing the logits of ignored pixels changes nothing
  loss2, _ = task.loss(logits.at[:, :2].set(100.0), ignored)
  np.testing.assert_allclose(loss2, loss, rtol=1e-6)
  sums = task.eval_sums(logits, ignored, jnp.ones(2))
  assert float(sums["pixels"]) == 16
  assert float(sums["confusion"].sum()) == 16


def test_padded_examples_add_nothing():
  task = Segmentation()
  logits = _random((3, 4, 4, 3))
  labels = jnp.asarray(np.random.default_rng(2).integers(0, 3, (3, 4, 4)), jnp.int32)
  full = task.eval_sums(logits[:2], labels[:2], jnp.ones(2))
  padded = task.eval_sums(logits.at[2].set(7.0), labels.at[2].set(0), jnp.array([1.0, 1.0, 0.0]))
  for key in full:
    np.testing.assert_allclose(padded[key], full[key], rtol=1e-6)


def test_split_miou_is_not_a_mean_of_batch_mious():
  """Summing confusion matrices over batches gives the split's IoU, which a batch average would not."""
  task = Segmentation()
  a = np.array([[10, 0], [0, 0]])      # batch 1: only class 0, all right
  b = np.array([[0, 0], [5, 5]])       # batch 2: class 1 half wrong
  split = task.finalize({"confusion": a + b, "loss_sum": 0.0, "pixels": 20.0, "count": 2.0})
  assert np.isclose(split["mean_iou"], (10 / 15 + 5 / 10) / 2)
  per_batch = [task.finalize({"confusion": c, "loss_sum": 0.0, "pixels": 10.0, "count": 1.0})["mean_iou"]
               for c in (a, b)]
  np.testing.assert_allclose(per_batch, [1.0, (0 + 5 / 10) / 2])
  assert not np.isclose(np.mean(per_batch), split["mean_iou"])


def test_unpadded_output_is_compared_with_the_label_centre():
  task = Segmentation()
  labels = jnp.zeros((1, 8, 8), jnp.int32).at[:, 2:6, 2:6].set(1)
  logits = jnp.zeros((1, 4, 4, 2)).at[..., 1].set(5.0)  # predicts class 1 everywhere on the centre crop
  _, metrics = task.loss(logits, labels)
  assert float(metrics["accuracy"]) == 1.0


def test_eight_devices_give_the_same_confusion_as_one():
  """eval_sums jitted over an 8-device data mesh sums the same confusion matrix as on one device."""
  code = textwrap.dedent("""
      import functools, jax, jax.numpy as jnp, numpy as np
      from cnnjax.parallel import mesh as mesh_lib
      from cnnjax.train.tasks import Segmentation
      task = Segmentation()
      rng = np.random.default_rng(0)
      batch = {"logits": rng.normal(size=(16, 6, 6, 4)).astype(np.float32),
               "label": rng.integers(0, 4, (16, 6, 6)).astype(np.int32),
               "mask": (np.arange(16) < 13).astype(np.float32)}
      batch["label"][:, 0] = 255
      fn = lambda b: task.eval_sums(b["logits"], b["label"], b["mask"])
      one = jax.jit(fn)(batch)
      mesh = mesh_lib.make_data_mesh()
      assert mesh.devices.size == 8
      many = jax.jit(fn, out_shardings=mesh_lib.replicated(mesh))(mesh_lib.shard_batch(batch, mesh))
      for k in ("confusion", "count", "pixels"):  # sums of 0s and 1s, exact in float32 below 2^24
        np.testing.assert_array_equal(np.asarray(many[k]), np.asarray(one[k]))
      # 576 positive per-pixel losses added in two orders: 2 x 8 sqrt(576) u relative (Higham & Mary 2019)
      np.testing.assert_allclose(np.asarray(many["loss_sum"]), np.asarray(one["loss_sum"]), rtol=16 * 24 * 2.0**-24)
      print("ok", float(one["pixels"]))
  """)
  env = {**os.environ, "XLA_FLAGS": subprocesses.with_device_count(os.environ.get("XLA_FLAGS", ""), 8),
         "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "ok 390.0" in result.stdout  # 13 real examples x 5 x 6 labelled pixels
