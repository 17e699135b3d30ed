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
from cnnjax.train.state import TrainState

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def _variables(state: TrainState, params) -> dict:
  variables = {"params": params}
  if state.batch_stats:
    variables["batch_stats"] = state.batch_stats
  return variables


def auxiliary_logits(intermediates) -> list[jax.Array]:
  """The auxiliary classifiers' logits a model sowed in training ("aux1_logits", "aux2_logits": GoogLeNet), in
  name order; none for models without them."""
  return [value[0] for name, value in sorted(intermediates.items())
          if name.startswith("aux") and name.endswith("_logits")]


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, task, l2_weight_decay: float,
               schedule: optax.Schedule, augment: Augment | None = None,
               axis_name: str | None = None) -> tuple[TrainState, dict]:
  """One SGD step on `batch`; `rng` is the run's root key, folded with the step for this step's randomness.

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
    outputs, updates = state.apply_fn(_variables(state, params), *inputs, train=True,
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
  metrics = {**metrics, "learning_rate": jnp.asarray(schedule(state.step), jnp.float32)}
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, task) -> dict:
  """Metric sums over the real examples of a padded batch (batch["mask"] is 1 for real rows); a detection task
  returns each image's detections instead (cnnjax.train.detection)."""
  outputs = state.apply_fn(_variables(state, state.params), *task.model_inputs(batch, False), train=False)
  return task.eval_sums(outputs, batch["label"], batch["mask"])
