"""Training state: step, parameters, optimizer state and batch-norm statistics."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """flax's TrainState plus the model's batch statistics (an empty dict when it has none)."""

  batch_stats: Any = None


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, rng: jax.Array,
                       input_shape: tuple[int, ...]) -> TrainState:
  """Initialises the model on a zero batch of `input_shape` ([N, H, W, C]) and the optimizer."""
  variables = model.init({"params": rng, "dropout": rng}, jnp.zeros(input_shape, jnp.float32), train=False)
  return TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                           batch_stats=variables.get("batch_stats", {}))
