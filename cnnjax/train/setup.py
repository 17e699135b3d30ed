"""One training setup from a config and a mesh: model (with its fast blocks), task, schedule,
optimizer, state and the compiled train and eval steps.

The runner, the scaling study and the benchmarks all build their step here, so what they time is
what `cnnjax train` runs.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import optax

from cnnjax.data import augment as augment_lib
from cnnjax.fast import blocks
from cnnjax.models import get_model
from cnnjax.parallel import data_parallel, mesh as mesh_lib
from cnnjax.train import optim, steps, tasks
from cnnjax.train.state import TrainState, create_train_state


@dataclasses.dataclass
class Training:
  """Everything a training loop needs, built once; the steps are jitted but compile on first call."""

  model: nn.Module
  task: Any  # cnnjax.train.tasks: loss, metrics and their finalisation
  schedule: optax.Schedule
  tx: optax.GradientTransformation
  init_state: Callable[[], TrainState]  # a fresh state from config.seed, replicated over the mesh
  abstract_state: Any  # its shapes, dtypes and shardings, for restoring a checkpoint
  train_step: Callable  # (state, batch, step_rng) -> (state, metrics)
  eval_step: Callable  # (state, batch) -> summed metrics
  step_rng: jax.Array  # the key train_step folds the step into, replicated
  fast_paths: dict[str, str]  # what cnnjax.fast chose, for results.json


def build_model(config, backend: str | None = None,
                model: nn.Module | None = None) -> tuple[nn.Module, dict[str, str]]:
  """The config's model (or `model`, built by the caller) with the fast blocks `config.fast_paths` asks for,
  and what was chosen. A given `model` replaces the registry's; config.model still names it for the
  per-model choices (cnnjax.fast.blocks.SMALL_MAP_CONV_MODELS)."""
  if model is None:
    model = get_model(config.model, num_classes=config.dataset.num_classes, **config.model_kwargs)
  dtype = getattr(model, "dtype", None) or "float32"
  fast = blocks.choose(config.fast_paths, backend, dtype)
  model = fast.apply(model, config.model)
  return model, fast.describe(model)


def build_training(config, mesh, input_shape: tuple[int, ...], steps_per_epoch: int, total_steps: int,
                   model: nn.Module | None = None) -> Training:
  """The training of `config` on `mesh` for images of `input_shape` ([H, W, C]) over `total_steps` steps.

  `model`: a linen module to train instead of the registry's config.model (tests' own models); the
  fast paths are applied to it as to any other.
  """
  task = tasks.get_task(config.task, config)
  model, fast_paths = build_model(config, model=model)
  base_lr = optim.base_learning_rate(config.optimizer, config.batch_size)
  schedule = optim.make_schedule(config.schedule, base_lr, steps_per_epoch, total_steps)
  tx = optim.with_frozen(optim.make_optimizer(config.optimizer, schedule), tuple(config.get("freeze", ())))
  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))

  replicated = mesh_lib.replicated(mesh)
  ema_decay = config.get("ema_decay", 0.0)
  init_fn = functools.partial(create_train_state, model, tx, input_shape=(1, *input_shape), ema=bool(ema_decay))
  abstract_state = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated),
                                jax.eval_shape(init_fn, init_rng))
  train_step = data_parallel.compile_train_step(
      functools.partial(steps.train_step, task=task, l2_weight_decay=optim.l2_coefficient(config.optimizer),
                        schedule=schedule, augment=augment_lib.make_augment(config.augment), ema_decay=ema_decay),
      mesh, config.batch_norm_stats)
  eval_step = jax.jit(functools.partial(steps.eval_step, task=task, use_ema=bool(ema_decay),
                                        flip_tta=bool(config.get("eval_flip_tta", False))), out_shardings=replicated)
  return Training(
      model=model, task=task, schedule=schedule, tx=tx,
      init_state=lambda: jax.jit(init_fn, out_shardings=replicated)(init_rng),
      abstract_state=abstract_state, train_step=train_step, eval_step=eval_step,
      step_rng=mesh_lib.replicate_key(step_rng, mesh), fast_paths=fast_paths)
