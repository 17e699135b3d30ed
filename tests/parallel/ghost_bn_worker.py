"""Runs in a process with 8 simulated devices: per-device BN step against a single-device reference.

Prints one JSON object of largest relative errors for the test in test_ghost_bn.py to assert on.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from cnnjax.parallel import data_parallel, mesh as mesh_lib
from cnnjax.train import steps, tasks
from cnnjax.train.state import TrainState
from tests.parallel.bn_cnn import SmallBNCNN

DEVICES, PER_DEVICE, L2 = 8, 4, 1e-2


def keep_gradients() -> optax.GradientTransformation:
  """An 'optimizer' that stores the gradient in its state and leaves the parameters unchanged."""
  return optax.GradientTransformation(lambda p: {"grad": jax.tree.map(jnp.zeros_like, p)},
                                      lambda g, s, p=None: (jax.tree.map(jnp.zeros_like, g), {"grad": g}))


def relative_error(a, b) -> float:
  a, b = jax.tree.leaves(a), jax.tree.leaves(b)
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / (np.max(np.abs(np.asarray(y))) + 1e-30))
             for x, y in zip(a, b))


def main():
  assert jax.device_count() == DEVICES, jax.devices()
  model = SmallBNCNN(num_classes=5)
  rs = np.random.RandomState(0)
  images = rs.standard_normal((DEVICES * PER_DEVICE, 8, 8, 3)).astype(np.float32)
  images += np.repeat(np.arange(DEVICES, dtype=np.float32), PER_DEVICE)[:, None, None, None]  # shards differ
  labels = rs.randint(0, 5, DEVICES * PER_DEVICE).astype(np.int32)
  variables = model.init(jax.random.key(1), images[:1], train=False)
  state = TrainState.create(apply_fn=model.apply, params=variables["params"], tx=keep_gradients(),
                            batch_stats=variables["batch_stats"])
  task = tasks.get_task("classification")

  # Reference on one device, by hand: the mean of the 8 per-shard losses, each with its own BN statistics.
  def shard_loss(params, x, y):
    logits, updates = model.apply({"params": params, "batch_stats": state.batch_stats}, x, train=True,
                                  mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates["batch_stats"]

  def reference_loss(params):
    losses, stats = jax.vmap(shard_loss, (None, 0, 0))(
        params, images.reshape(DEVICES, PER_DEVICE, 8, 8, 3), labels.reshape(DEVICES, PER_DEVICE))
    l2 = 0.5 * sum(jnp.sum(p ** 2) for p in jax.tree.leaves(params) if p.ndim > 1)
    return jnp.mean(losses) + L2 * l2, (jnp.mean(losses), jax.tree.map(lambda s: s.mean(0), stats))

  ref_grads, (ref_loss, ref_stats) = jax.jit(jax.grad(reference_loss, has_aux=True))(state.params)

  mesh = mesh_lib.make_data_mesh()
  step = functools.partial(steps.train_step, task=task, l2_weight_decay=L2, schedule=optax.constant_schedule(1.0))
  batch = mesh_lib.shard_batch({"image": images, "label": labels}, mesh)
  rng = mesh_lib.replicate_key(jax.random.key(2), mesh)
  placed = mesh_lib.replicate(state, mesh)
  ghost_state, ghost_metrics = data_parallel.compile_train_step(step, mesh, "per_device", donate=False)(
      placed, batch, rng)
  global_state, global_metrics = data_parallel.compile_train_step(step, mesh, "global", donate=False)(
      placed, batch, rng)

  # The pitfall: local gradients inside shard_map (already summed over devices) averaged once more.
  def naive(params, x, y):
    grads = jax.grad(lambda p: shard_loss(p, x, y)[0])(params)
    return jax.lax.pmean(grads, mesh_lib.DATA_AXIS)

  naive_grads = jax.jit(jax.shard_map(naive, mesh=mesh, in_specs=(P(), P("data"), P("data")), out_specs=P()))(
      placed.params, batch["image"], batch["label"])
  ref_data_grads = jax.grad(lambda p: reference_loss(p)[0] - L2 * 0.5 * sum(
      jnp.sum(q ** 2) for q in jax.tree.leaves(p) if q.ndim > 1))(state.params)

  print(json.dumps({
      "grad_error": relative_error(ghost_state.opt_state["grad"], ref_grads),
      "loss_error": abs(float(ghost_metrics["loss"]) - float(ref_loss)) / float(ref_loss),
      "batch_stats_error": relative_error(ghost_state.batch_stats, ref_stats),
      "global_vs_ghost_loss": abs(float(global_metrics["loss"]) - float(ghost_metrics["loss"])),
      "naive_over_reference": relative_error(naive_grads, jax.tree.map(lambda g: DEVICES * g, ref_data_grads)),
      "params_unchanged": relative_error(ghost_state.params, state.params),
  }))


if __name__ == "__main__":
  main()
