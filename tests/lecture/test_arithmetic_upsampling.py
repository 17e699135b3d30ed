"""Lecture items 5 and 7: CNN arithmetic and upsampling, with the lecture's numbers."""

import numpy as np
import pytest

from cnnjax.layers.conv import conv_output_size
from cnnjax.lecture import arithmetic, upsampling


def test_output_sizes():
  sizes = arithmetic.output_sizes()
  assert sizes["N=7,F=3,S=1"] == 5
  assert sizes["N=7,F=3,S=2"] == 3
  assert sizes["N=7,F=3,S=3"].startswith("does not fit")
  with pytest.raises(ValueError, match="2.33"):
    conv_output_size(7, 3, 3)
  assert sizes["32 -> 28 -> 24 (conv_output_size)"] == [32, 28, 24]
  assert sizes["32x32x3 -> two 5x5 convs (layer_table)"] == [[1, 28, 28, 6], [1, 24, 24, 10]]
  for f, p in ((3, 1), (5, 2), (7, 3)):
    assert sizes[f"same padding F={f}"] == {"P": p, "N=7 ->": 7, "32x32 conv output": [32, 32]}


def test_connectivity_21_9_3():
  counts = arithmetic.connectivity()
  assert counts["formula"] == {"global": 21, "local": 9, "shared": 3}
  assert counts["linen_layers"] == {"global": 21, "local": 9, "shared": 3}


def test_one_by_one_convolution_cost():
  cost = arithmetic.one_by_one_cost()
  assert cost["direct_5x5"] == cost["formula_direct"] == 120_422_400
  assert cost["1x1_then_5x5"] == cost["formula_1x1_then_5x5"] == 12_443_648


def test_conv_matrices_of_the_1d_examples():
  np.testing.assert_array_equal(upsampling.conv_matrix(1), [[2, 3, 0, 0], [1, 2, 3, 0], [0, 1, 2, 3], [0, 0, 1, 2]])
  np.testing.assert_array_equal(upsampling.conv_matrix(2), [[2, 3, 0, 0], [0, 1, 2, 3]])


@pytest.mark.parametrize("stride, expected", [(1, [4, 10, 16, 17]), (2, [2, 5, 4, 6])])
def test_transpose_convolution_is_multiplication_by_x_transposed(stride, expected):
  check = upsampling.transpose_check(stride)
  np.testing.assert_allclose(check["X_T_a"], expected)
  np.testing.assert_allclose(check["conv_transpose"], check["X_T_a"], rtol=1e-6)
  rng = np.random.default_rng(stride)
  for _ in range(3):  # any input, not just (1, 2, ...)
    a = rng.normal(size=check["X"].shape[0]).astype(np.float32)
    np.testing.assert_allclose(upsampling.conv_transpose_1d(a, stride, 4), check["X"].T @ a, rtol=1e-5, atol=1e-6)


def test_unpooling_examples():
  ex = upsampling.unpooling_examples()
  np.testing.assert_array_equal(ex["nearest"], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
  np.testing.assert_array_equal(ex["bed_of_nails"], [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(ex["max_pooled"], [[5, 6], [7, 8]])
  np.testing.assert_array_equal(ex["max_unpooled"], [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]])


def test_alexnet_shape_table():
  rows = {r["name"]: r for r in arithmetic.alexnet_table()}
  shapes = {name: tuple(rows[name]["output_shape"][1:]) for name in
            ("conv1", "pool1", "norm1", "conv2", "pool2", "norm2", "conv3", "conv4", "conv5", "pool3",
             "fc6", "fc7", "fc8")}
  assert shapes == {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "norm1": (27, 27, 96),
                    "conv2": (27, 27, 256), "pool2": (13, 13, 256), "norm2": (13, 13, 256),
                    "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256),
                    "pool3": (6, 6, 256), "fc6": (4096,), "fc7": (4096,), "fc8": (1000,)}
  assert rows["conv1"]["params"] == 11 * 11 * 3 * 96 + 96 == 34_944
  assert rows["conv1"]["multiply_adds"] == 55 * 55 * 96 * 11 * 11 * 3
  assert rows[""]["params"] == 62_378_344  # one tower; the paper's two-tower split has 60,965,224
  assert "| **total** | | | 62,378,344 |" in arithmetic.markdown_table(arithmetic.alexnet_table())
