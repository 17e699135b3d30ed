"""The MNIST-1D CNN: published parameter count and parity with the reference PyTorch ConvBase."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.models import get_model


def test_mnist1d_cnn_has_the_reference_parameter_count():
  model = get_model("mnist1d_cnn", num_classes=10)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 40, 1)))
  counts = jax.tree.map(np.size, variables["params"])
  # conv1 1*25*5+25, conv2 and conv3 25*25*3+25, head 125*10+10 (length 40 -> 19 -> 10 -> 5)
  assert {k: sum(v.values()) for k, v in counts.items()} == {"conv1": 150, "conv2": 1900, "conv3": 1900,
                                                             "head": 1260}
  assert model.apply(variables, jnp.zeros((3, 40))).shape == (3, 10)


def test_mnist1d_cnn_matches_pytorch_convbase():
  torch = pytest.importorskip("torch", reason="parity with the reference PyTorch model needs torch")
  model = get_model("mnist1d_cnn", num_classes=10)
  x = np.random.default_rng(0).normal(size=(4, 40, 1)).astype(np.float32)
  variables = model.init(jax.random.key(1), jnp.asarray(x))
  p = jax.tree.map(np.array, variables["params"])  # writable copies for torch

  convs = [torch.nn.Conv1d(1, 25, 5, stride=2, padding=1), torch.nn.Conv1d(25, 25, 3, stride=2, padding=1),
           torch.nn.Conv1d(25, 25, 3, stride=2, padding=1)]
  head = torch.nn.Linear(125, 10)
  with torch.no_grad():
    for i, conv in enumerate(convs):
      conv.weight.copy_(torch.from_numpy(p[f"conv{i + 1}"]["kernel"].transpose(2, 1, 0)))  # [K, I, O] -> [O, I, K]
      conv.bias.copy_(torch.from_numpy(p[f"conv{i + 1}"]["bias"]))
    # flax flattens [N, L, C] (channel fastest), torch flattens [N, C, L] (length fastest)
    kernel = p["head"]["kernel"].reshape(5, 25, 10).transpose(1, 0, 2).reshape(125, 10)
    head.weight.copy_(torch.from_numpy(kernel.T))
    head.bias.copy_(torch.from_numpy(p["head"]["bias"]))
    h = torch.from_numpy(x.transpose(0, 2, 1))
    for conv in convs:
      h = conv(h).relu()
    expected = head(h.reshape(4, -1)).numpy()
  np.testing.assert_allclose(np.asarray(model.apply(variables, jnp.asarray(x))), expected, rtol=1e-5, atol=1e-5)


def test_conv1d_rejects_mismatched_layer_lists():
  model = get_model("conv1d", num_classes=10, features=(8, 8), kernel_sizes=(3,), strides=(1, 1))
  with pytest.raises(ValueError, match="one entry per layer"):
    model.init(jax.random.key(0), jnp.zeros((1, 40, 1)))
