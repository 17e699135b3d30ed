"""Pure, jittable training and evaluation steps.

Hyperparameters arrive as keyword arguments bound with functools.partial by the runner,
so the steps hold no literals and no globals. Under jit over a mesh they compute on the
global batch: batch-norm statistics and gradients are those of the whole batch.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from cnnjax.train.optim import l2_penalty
from cnnjax.train.state import TrainState, model_variables

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def ema_decay_at(ema_decay: float, count: jax.Array) -> jax.Array:
  """The decay of EMA update number `count` (0, 1, ...): min(ema_decay, (1 + count) / (10 + count)).

  Why: the warm-up of TensorFlow's ExponentialMovingAverage keeps the average from clinging to the random
  initialisation early in a short run; after ~10 / (1 - ema_decay) updates the decay is ema_decay.
  """
  count = jnp.asarray(count, jnp.float32)
  return jnp.minimum(jnp.float32(ema_decay), (1.0 + count) / (10.0 + count))


def update_ema(ema, variables, decay: jax.Array):
  """decay * ema + (1 - decay) * variables, leaf by leaf (optax.incremental_update)."""
  return optax.incremental_update(variables, ema, 1.0 - decay)


def auxiliary_logits(intermediates) -> list[jax.Array]:
  """The auxiliary classifiers' logits a model sowed in training ("aux1_logits", "aux2_logits": GoogLeNet), in
  name order; none for models without them."""
  return [value[0] for name, value in sorted(intermediates.items())
          if name.startswith("aux") and name.endswith("_logits")]


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, task, l2_weight_decay: float,
               schedule: optax.Schedule, augment: Augment | None = None, ema_decay: float = 0.0,
               axis_name: str | None = None) -> tuple[TrainState, dict]:
  """One SGD step on `batch`; `rng` is the run's root key, folded with the step for this step's randomness.

  With `ema_decay` > 0 the state's moving average then takes the new parameters and batch statistics, with
  the decay ema_decay_at(ema_decay, step before this one).

  A model's auxiliary logits (auxiliary_logits) reach the task's loss after the main logits.
  Returns the new state and metrics: loss (data term), accuracy, learning rate. With `axis_name`
  (inside shard_map, per-device batch norm) `batch` is this device's shard: the loss, metrics and
  batch statistics are averaged over the axis, so the gradient is the mean of the devices' gradients.
  """
  step_rng = jax.random.fold_in(rng, state.step)
  if axis_name is not None:  # each device draws its own augmentation and dropout randomness
    step_rng = jax.random.fold_in(step_rng, jax.lax.axis_index(axis_name))
  augment_rng, dropout_rng = jax.random.split(step_rng)
  labels = batch["label"]
  if augment is not None:
    images, labels = augment(augment_rng, batch["image"], labels)
    batch = {**batch, "image": images, "label": labels}
  inputs = task.model_inputs(batch, True)

  def loss_fn(params):
    outputs, updates = state.apply_fn(model_variables(state, params), *inputs, train=True,
                                      rngs={"dropout": dropout_rng}, mutable=["batch_stats", "intermediates"])
    updates = dict(updates)
    aux = auxiliary_logits(updates.pop("intermediates", {}))
    data_loss, metrics = task.loss((outputs, *aux) if aux else outputs, labels)
    loss = data_loss + l2_weight_decay * l2_penalty(params) if l2_weight_decay else data_loss
    if axis_name is not None:
      # Replicated params enter shard_map unvarying, so their gradient is summed over devices;
      # averaging the loss (not the gradients) makes that sum the mean gradient.
      loss = jax.lax.pmean(loss, axis_name)
      metrics, updates = jax.lax.pmean((metrics, updates), axis_name)
    return loss, (metrics, updates)

  grads, (metrics, updates) = jax.grad(loss_fn, has_aux=True)(state.params)
  new_state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", state.batch_stats))
  if ema_decay:
    new_state = new_state.replace(ema=update_ema(state.ema, model_variables(new_state),
                                                 ema_decay_at(ema_decay, state.step)))
  metrics = {**metrics, "learning_rate": jnp.asarray(schedule(state.step), jnp.float32)}
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, task, use_ema: bool = False, flip_tta: bool = False) -> dict:
  """Metric sums over the real examples of a padded batch (batch["mask"] is 1 for real rows); a detection task
  returns each image's detections instead (cnnjax.train.detection).

  `use_ema`: the model runs with the state's moving average instead of its current variables. `flip_tta`
  (classification): the outputs are the mean of the logits of each image and of its left-right mirror, as
  airbench averages logits (not softmax probabilities).
  """
  variables = state.ema if use_ema else model_variables(state)
  inputs = task.model_inputs(batch, False)
  outputs = state.apply_fn(variables, *inputs, train=False)
  if flip_tta:
    mirrored = state.apply_fn(variables, inputs[0][:, :, ::-1], *inputs[1:], train=False)
    outputs = (outputs.astype(jnp.float32) + mirrored.astype(jnp.float32)) / 2
  return task.eval_sums(outputs, batch["label"], batch["mask"])
