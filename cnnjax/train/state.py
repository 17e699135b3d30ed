"""Training state: step, parameters, optimizer state, batch-norm statistics and (optionally) their moving average."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """flax's TrainState plus the model's batch statistics (an empty dict when it has none) and `ema`, the
  exponential moving average of the model's variables ({"params", "batch_stats"}; an empty dict when off)."""

  batch_stats: Any = None
  ema: Any = None


def model_variables(state: TrainState, params: Any = None) -> dict:
  """The variables the model is applied with: {"params"} (the state's, or `params` when given: those being
  differentiated) and, when it has them, {"batch_stats"}."""
  variables = {"params": state.params if params is None else params}
  if state.batch_stats:
    variables["batch_stats"] = state.batch_stats
  return variables


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, rng: jax.Array,
                       input_shape: tuple[int, ...], ema: bool = False) -> TrainState:
  """Initialises the model on a zero batch of `input_shape` ([N, H, W, C]) and the optimizer; with `ema` the
  moving average starts as a copy of the initial variables."""
  variables = model.init({"params": rng, "dropout": rng}, jnp.zeros(input_shape, jnp.float32), train=False)
  state = TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                            batch_stats=variables.get("batch_stats", {}), ema={})
  return state.replace(ema=jax.tree.map(jnp.copy, model_variables(state))) if ema else state
