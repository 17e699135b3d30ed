"""The lecture's nonlinearities by name: ReLU, sigmoid (the neuron of the lecture), tanh, GELU.

Flax's own functions; the table lets configs name them and gives a helpful error for typos.
"""

from collections.abc import Callable

import flax.linen as nn
import jax

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu, "sigmoid": nn.sigmoid, "tanh": nn.tanh, "gelu": nn.gelu}


def activation(name: str, owner: str = "") -> Callable[[jax.Array], jax.Array]:
  """Returns the elementwise nonlinearity called `name` (shape-preserving); `owner` prefixes the error."""
  if name not in ACTIVATIONS:
    raise ValueError(f"{owner + ' ' if owner else ''}activation {name!r} is unknown; use one of {sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]
