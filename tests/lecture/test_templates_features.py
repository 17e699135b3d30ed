"""Lecture sections 1 and 6 on tiny cases: the linear classifier's columns as images; LeNet-5's first-layer maps."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.lecture import linear_templates, what_cnn_learns
from cnnjax.models import lenet


def test_class_templates_are_the_kernel_columns():
  kernel = np.arange(28 * 28 * 10, dtype=np.float32).reshape(28 * 28, 10)
  templates = linear_templates.class_templates({"fc": {"kernel": kernel}})
  assert templates.shape == (10, 28, 28)
  np.testing.assert_array_equal(templates[3].ravel(), kernel[:, 3])  # template k is column k of W


def test_first_layer_maps_are_conv_relu_and_2x2_max_pool():
  image = np.random.default_rng(0).normal(size=(28, 28, 1)).astype(np.float32)
  params = jax.jit(lenet.lenet5().init)(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))["params"]
  maps = what_cnn_learns.first_layer_maps(params, image)
  assert maps["conv1"].shape == maps["relu"].shape == (28, 28, 6) and maps["max_pool"].shape == (14, 14, 6)
  np.testing.assert_array_equal(maps["relu"], np.maximum(maps["conv1"], 0))
  np.testing.assert_array_equal(maps["max_pool"], maps["relu"].reshape(14, 2, 14, 2, 6).max(axis=(1, 3)))
  # conv1 is a 5x5 'SAME' convolution of the image with the kernel plus the bias, at one interior pixel:
  k, b = np.asarray(params["conv1"]["kernel"]), np.asarray(params["conv1"]["bias"])
  expected = np.einsum("hwc,hwco->o", image[8:13, 8:13], k) + b
  np.testing.assert_allclose(maps["conv1"][10, 10], expected, rtol=1e-4, atol=1e-5)
