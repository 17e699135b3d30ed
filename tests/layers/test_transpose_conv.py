"""ConvTranspose against torch conv_transpose2d (values and gradients), the lecture's X^T a, FCN's bilinear init."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import ConvTranspose, bilinear_init, bilinear_kernel, conv_transpose_output_size
from tests.layers.parity import assert_close

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
F = torch.nn.functional


def torch_weight(kernel, groups):
  """Our [kh, kw, C_in/g, C_out] kernel as torch's [C_in, C_out/g, kh, kw] (the documented mapping, inverted)."""
  kh, kw, cin_g, cout = kernel.shape
  k = np.asarray(kernel).reshape(kh, kw, cin_g, groups, cout // groups)  # [h, w, i, G, o]
  return torch.tensor(k.transpose(3, 2, 4, 0, 1).reshape(groups * cin_g, cout // groups, kh, kw).copy())


@pytest.mark.parametrize("shape, features, kernel, stride, padding, output_padding, dilation, groups", [
    ((2, 5, 5, 3), 4, 3, 1, 0, 0, 1, 1),
    ((2, 5, 6, 3), 4, 3, 2, 1, 1, 1, 1),
    ((1, 4, 4, 4), 6, 4, 2, 1, 0, 1, 2),   # FCN/DCGAN-style 2x upsampling, grouped
    ((1, 3, 3, 2), 3, 3, 3, 2, 2, 1, 1),
    ((1, 4, 5, 2), 2, 3, 2, 3, 1, 2, 1),   # dilation
    ((1, 4, 4, 2), 3, 3, 3, 3, 2, 1, 1),   # padding beyond the filter extent: the output is cropped
    ((2, 3, 3, 4), 4, 2, 2, 0, 0, 1, 4),   # depthwise 2x2 stride 2 (U-Net's up-convolution, per channel)
])
def test_conv_transpose_matches_torch_with_gradients(shape, features, kernel, stride, padding, output_padding,
                                                     dilation, groups):
  rng = np.random.default_rng(0)
  x = rng.standard_normal(shape, np.float32)
  layer = ConvTranspose(features, kernel, stride=stride, padding=padding, output_padding=output_padding,
                        dilation=dilation, groups=groups)
  shapes = jax.eval_shape(layer.init, jax.random.key(0), x)
  variables = jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32), shapes)
  out_shape = jax.eval_shape(layer.apply, variables, x).shape
  cotangent = rng.standard_normal(out_shape, np.float32)

  def value_and_grads(variables, x, ct):
    y, vjp = jax.vjp(layer.apply, variables, x)
    return (y, *vjp(ct))

  y, dvars, dx = jax.jit(value_and_grads)(variables, x, cotangent)
  k = variables["params"]["kernel"]
  xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
  wt = torch_weight(k, groups).requires_grad_()
  bt = torch.tensor(variables["params"]["bias"]).requires_grad_()
  ref = F.conv_transpose2d(xt, wt, bt, stride=stride, padding=padding, output_padding=output_padding,
                           groups=groups, dilation=dilation)
  assert_close(y, ref.detach().permute(0, 2, 3, 1).numpy())
  assert y.shape[1] == conv_transpose_output_size(shape[1], kernel, stride, padding, output_padding, dilation)
  ref.backward(torch.tensor(cotangent).permute(0, 3, 1, 2))
  assert_close(dx, xt.grad.permute(0, 2, 3, 1).numpy())
  assert_close(torch_weight(dvars["params"]["kernel"], groups).numpy(), wt.grad.numpy())
  assert_close(dvars["params"]["bias"], bt.grad.numpy())


def conv_matrix(kernel, n, stride, padding):
  """The lecture's matrix X of a 1-D convolution: row j holds the kernel at input offset j * stride - padding."""
  f = len(kernel)
  m = (n - f + 2 * padding) // stride + 1
  matrix = np.zeros((m, n))
  for j in range(m):
    for t in range(f):
      i = j * stride - padding + t
      if 0 <= i < n:
        matrix[j, i] = kernel[t]
  return matrix


@pytest.mark.parametrize("n, stride, padding, output_padding", [(4, 1, 1, 0), (5, 2, 1, 0), (4, 2, 1, 1)])
def test_lecture_transpose_convolution_is_x_transpose_a(n, stride, padding, output_padding):
  kernel = np.array([2.0, 3.0, 5.0])  # the lecture's [x, y, z]
  matrix = conv_matrix(kernel, n, stride, padding)
  if (n, stride) == (4, 1):  # X for stride 1, pad 1: [[y z 0 0] [x y z 0] [0 x y z] [0 0 x y]]
    np.testing.assert_array_equal(matrix, [[3, 5, 0, 0], [2, 3, 5, 0], [0, 2, 3, 5], [0, 0, 2, 3]])
  if (n, stride) == (5, 2):  # X for stride 2, pad 1: [[y z 0 0 0] [0 x y z 0] [0 0 0 x y]]
    np.testing.assert_array_equal(matrix, [[3, 5, 0, 0, 0], [0, 2, 3, 5, 0], [0, 0, 0, 2, 3]])
  a = np.array([1.0, -2.0, 7.0, 4.0][:matrix.shape[0]])
  layer = ConvTranspose(1, (1, 3), stride=(1, stride), padding=(0, padding), output_padding=(0, output_padding),
                        use_bias=False)
  y = layer.apply({"params": {"kernel": kernel.reshape(1, 3, 1, 1).astype(np.float32)}},
                  a.reshape(1, 1, -1, 1).astype(np.float32))
  np.testing.assert_array_equal(np.asarray(y).reshape(-1), matrix.T @ a)
  # and the convolution itself computes X x with the same kernel (cross-correlation, as in CNNs)
  x = np.arange(1.0, n + 1)
  conv = jax.lax.conv_general_dilated(x.reshape(1, 1, n, 1).astype(np.float32),
                                      kernel.reshape(1, 3, 1, 1).astype(np.float32), (1, stride),
                                      ((0, 0), (padding, padding)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_array_equal(np.asarray(conv).reshape(-1), matrix @ x)


def test_bilinear_kernel_is_fcns_filter():
  np.testing.assert_allclose(np.asarray(bilinear_kernel(4, 1))[:, :, 0, 0],
                             np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))
  np.testing.assert_allclose(np.asarray(bilinear_kernel(3, 1))[:, 1, 0, 0], [0.5, 1.0, 0.5])
  k = np.asarray(bilinear_kernel(4, 3))
  assert k.shape == (4, 4, 3, 3) and k[:, :, 0, 1].sum() == 0 and k[:, :, 2, 2].sum() == 4.0


@pytest.mark.parametrize("factor", [2, 4])
def test_bilinear_init_upsamples_like_image_resize(factor):
  x = np.random.default_rng(1).standard_normal((1, 6, 5, 3)).astype(np.float32)
  layer = ConvTranspose(3, 2 * factor, stride=factor, padding=factor // 2, kernel_init=bilinear_init, use_bias=False)
  variables = layer.init(jax.random.key(0), x)
  y = layer.apply(variables, x)
  assert y.shape == (1, 6 * factor, 5 * factor, 3)
  ref = jax.image.resize(x, y.shape, "bilinear")
  inner = slice(factor, -factor)  # away from the border, where the transpose conv sees zero padding
  assert_close(y[:, inner, inner], ref[:, inner, inner])


def test_bilinear_init_depthwise_and_errors():
  k = bilinear_init(None, (4, 4, 1, 5))
  assert k.shape == (4, 4, 1, 5)
  np.testing.assert_array_equal(np.asarray(k[:, :, 0, 3]), np.asarray(bilinear_kernel(4, 1)[:, :, 0, 0]))
  with pytest.raises(ValueError, match="as many output as input channels"):
    bilinear_init(None, (4, 4, 2, 3))


def test_conv_transpose_rejects_bad_output_padding():
  with pytest.raises(ValueError, match="output_padding"):
    ConvTranspose(2, 3, stride=2, output_padding=2).init(jax.random.key(0), jnp.zeros((1, 3, 3, 1)))


def test_conv_transpose_compute_dtype():
  x = np.random.default_rng(2).standard_normal((1, 4, 4, 3)).astype(np.float32)
  layer = ConvTranspose(5, 4, stride=2, padding=1, dtype=jnp.bfloat16)
  variables = layer.init(jax.random.key(0), x)
  assert variables["params"]["kernel"].dtype == jnp.float32  # parameters stay float32
  y16 = layer.apply(variables, x)
  y32 = layer.clone(dtype=jnp.float32).apply(variables, x)
  assert y16.dtype == jnp.bfloat16 and y16.shape == (1, 8, 8, 5)
  assert float(jnp.abs(y16.astype(jnp.float32) - y32).max()) <= 3e-2 * float(jnp.abs(y32).max())
