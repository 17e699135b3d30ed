"""Optax SGD with momentum, weight decay (L2 in the loss or decoupled), learning-rate schedules and frozen
parameters (config.freeze)."""

import re
from typing import Any

import jax
import jax.numpy as jnp
import optax

from cnnjax.errors import InputError

WEIGHT_DECAY_MODES = ("l2", "decoupled")
SCHEDULES = ("constant", "multistep", "cosine", "linear")


def decay_mask(params):
  """Weight decay applies to weights (kernels, ndim > 1), not to biases or BN scales/offsets."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def l2_penalty(params) -> jax.Array:
  """The lecture's regulariser 1/2 sum w^2 over the decayed weights."""
  leaves = jax.tree.leaves(jax.tree.map(lambda p, m: jnp.sum(p.astype(jnp.float32) ** 2) if m else 0.0,
                                        params, decay_mask(params)))
  return 0.5 * sum(leaves)


def base_learning_rate(opt_config, global_batch_size: int) -> float:
  """The configured rate, optionally by the linear scaling rule lr = base * batch / 256 (Goyal et al.)."""
  lr = opt_config.learning_rate
  if opt_config.get("scale_by_batch", False):
    lr = lr * global_batch_size / 256
  return lr


def make_schedule(schedule_config, base_lr: float, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Learning rate against step: constant, multistep, cosine or linear (to 0 at the last step), after an optional
  linear warmup; warmup + linear is the triangular one-cycle schedule airbench trains with."""
  warmup = int(round(schedule_config.get("warmup_epochs", 0.0) * steps_per_epoch))
  name = schedule_config.name
  if name == "constant":
    main = optax.constant_schedule(base_lr)
  elif name == "multistep":
    boundaries = [int(round(e * steps_per_epoch)) - warmup for e in schedule_config.boundaries_epochs]
    main = optax.piecewise_constant_schedule(base_lr, {b: schedule_config.decay_factor for b in boundaries if b > 0})
  elif name == "cosine":
    main = optax.cosine_decay_schedule(base_lr, max(1, total_steps - warmup))
  elif name == "linear":
    main = optax.linear_schedule(base_lr, 0.0, max(1, total_steps - warmup))
  else:
    raise InputError(f"config.schedule.name={name!r} is unknown; use one of {', '.join(SCHEDULES)}")
  if warmup <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, base_lr, warmup), main], [warmup])


def make_optimizer(opt_config, schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with momentum (Nesterov optional); decoupled weight decay is applied outside the momentum.

  With mode "l2" the decay is instead the term wd/2 * sum w^2 added to the loss by the step.
  """
  mode = opt_config.get("weight_decay_mode", "l2")
  if mode not in WEIGHT_DECAY_MODES:
    raise InputError(f"config.optimizer.weight_decay_mode={mode!r} is unknown; use one of {WEIGHT_DECAY_MODES}")
  parts = []
  if opt_config.momentum:
    parts.append(optax.trace(decay=opt_config.momentum, nesterov=opt_config.get("nesterov", False)))
  if mode == "decoupled" and opt_config.weight_decay:
    parts.append(optax.add_decayed_weights(opt_config.weight_decay, mask=decay_mask))
  parts.append(optax.scale_by_learning_rate(schedule))
  return optax.chain(*parts)


def l2_coefficient(opt_config) -> float:
  """Weight of the 1/2 sum w^2 term in the loss: weight_decay in "l2" mode, else 0."""
  return opt_config.weight_decay if opt_config.get("weight_decay_mode", "l2") == "l2" else 0.0


def param_paths(params) -> list[str]:
  """Every parameter's "/"-joined path, e.g. "backbone/conv1_1/kernel"."""
  return ["/".join(str(getattr(k, "key", k)) for k in path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]


def freeze_labels(params, patterns) -> Any:
  """"frozen" for parameters whose path matches one of the regexes `patterns` (re.search), else "trained".

  Raises InputError for a pattern that matches no parameter (a typo would otherwise train everything).
  """
  compiled = [re.compile(p) for p in patterns]
  for pattern, regex in zip(patterns, compiled):
    if not any(regex.search(path) for path in param_paths(params)):
      raise InputError(f"config.freeze pattern {pattern!r} matches no parameter path (e.g. "
                       f"{param_paths(params)[0]!r}); fix or remove it")
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "frozen" if any(r.search("/".join(str(getattr(k, "key", k)) for k in path)) for r in compiled)
      else "trained", params)


def with_frozen(tx: optax.GradientTransformation, patterns) -> optax.GradientTransformation:
  """`tx` for the parameters not matched by `patterns`; the matched ones get a zero update.

  The zero update comes after everything tx does, so neither weight decay (decoupled in tx, or L2 in the
  loss's gradient) nor momentum moves a frozen parameter. Batch-norm statistics are not parameters:
  a frozen layer's running statistics still update in training mode.
  """
  if not patterns:
    return tx
  return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()},
                               lambda params: freeze_labels(params, tuple(patterns)))
