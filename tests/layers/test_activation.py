"""The lecture's nonlinearities (flax functions by name) against torch."""

import numpy as np
import pytest

from cnnjax.layers import ACTIVATIONS, activation

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")


@pytest.mark.parametrize("name, reference", [
    ("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
    ("gelu", lambda x: torch.nn.functional.gelu(x, approximate="tanh")),  # flax's nn.gelu is the tanh form
])
def test_activation_matches_torch(name, reference):
  x = np.linspace(-6, 6, 101, dtype=np.float32)
  np.testing.assert_allclose(np.asarray(activation(name)(x)), reference(torch.tensor(x)).numpy(), atol=1e-6)


def test_sigmoid_neuron_of_the_lecture():
  assert float(activation("sigmoid")(np.float32(0.0))) == 0.5
  assert sorted(ACTIVATIONS) == ["gelu", "relu", "sigmoid", "tanh"]


def test_unknown_activation_lists_the_choices():
  with pytest.raises(ValueError, match=r"^lenet activation 'rleu' is unknown; use one of \['gelu', 'relu', 'sigmoid', 'tanh'\]"):
    activation("rleu", "lenet")
