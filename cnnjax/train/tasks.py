"""What a model is trained to do: its loss, its per-batch metric sums and how sums become metrics.

A task is a small object of pure functions so the steps stay generic; `TASKS` names them.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


class Classification:
  """Softmax cross-entropy over `num_classes`; accuracy and mean loss over real (unmasked) examples."""

  def loss(self, logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean cross-entropy of a training batch and its accuracy."""
    logits = logits.astype(jnp.float32)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    return loss, {"loss": loss, "accuracy": accuracy}

  def eval_sums(self, logits: jax.Array, labels: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Sums over real examples; adding them over batches and dividing once keeps every example equal."""
    logits = logits.astype(jnp.float32)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {"loss_sum": jnp.sum(losses * mask), "correct": jnp.sum(correct * mask), "count": jnp.sum(mask)}

  def finalize(self, sums: dict) -> dict[str, float]:
    count = float(sums["count"])
    return {"loss": float(sums["loss_sum"]) / count, "accuracy": float(sums["correct"]) / count,
            "num_examples": int(round(count))}


TASKS: dict[str, Callable[[], object]] = {"classification": Classification}


def get_task(name: str):
  if name not in TASKS:
    raise ValueError(f"config.task={name!r} is unknown; use one of {sorted(TASKS)}")
  return TASKS[name]()
