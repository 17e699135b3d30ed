"""What a model is trained to do: its loss, its per-batch metric sums and how sums become metrics.

A task is a small object of pure functions so the steps stay generic; `TASKS` names them. Each has
model_inputs(batch, train) (what the model is called with), loss(outputs, labels), eval_sums(outputs,
labels, mask) (on device, in the jitted eval step), accumulate(totals, sums) (on the host, over a split's
batches), finalize(totals) (the split's metrics) and headline_metric (the one a log line shows).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.errors import InputError
from cnnjax.layers.crop import center_crop
from cnnjax.train import detection


def _cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
  """Mean cross-entropy against integer labels, or against targets (1 - a) one_hot + a / C with a = label_smoothing."""
  logits = logits.astype(jnp.float32)
  if not label_smoothing:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
  return optax.softmax_cross_entropy(logits, targets).mean()


class SummedMetrics:
  """The common case: the model sees batch["image"] and evaluation adds per-batch sums (on device)."""

  headline_metric = "accuracy"

  def model_inputs(self, batch: dict, train: bool) -> tuple:
    del train
    return (batch["image"],)

  @staticmethod
  def accumulate(totals, sums):
    return sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)


# Top-k accuracies reported besides top-1, each when the task has more than k classes.
TOP_K = (5,)


class Classification(SummedMetrics):
  """Softmax cross-entropy over `num_classes`; accuracy, top-5 accuracy, mean loss and the confusion
  matrix over real (unmasked) examples.

  A model with auxiliary classifiers (GoogLeNet's aux_logits) returns (logits, aux1, aux2, ...) in train
  mode: each auxiliary cross-entropy enters the loss times `aux_loss_weight` (0.3 in Szegedy et al. 2015;
  0 trains the auxiliary heads not at all). Evaluation sees the main logits only.
  `label_smoothing` a > 0 trains against (1 - a) one_hot + a / C (Szegedy et al. 2016, "Rethinking the Inception
  architecture"); evaluation's loss and accuracy stay those of the plain labels.
  """

  def __init__(self, aux_loss_weight: float = 0.3, label_smoothing: float = 0.0):
    self.aux_loss_weight = aux_loss_weight
    self.label_smoothing = label_smoothing

  def loss(self, logits, labels: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean (label-smoothed) cross-entropy of a training batch (plus the weighted auxiliary ones) and its accuracy.

    The logged "loss" is the main classifier's, comparable with models without auxiliary heads; with label
    smoothing it is the smoothed loss that is minimised.
    """
    aux = ()
    if isinstance(logits, (tuple, list)):
      logits, *aux = logits
    logits = logits.astype(jnp.float32)
    main = _cross_entropy(logits, labels, self.label_smoothing)
    metrics = {"loss": main, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}
    if not aux:
      return main, metrics
    aux_losses = [_cross_entropy(a, labels, self.label_smoothing) for a in aux]
    metrics["aux_loss"] = sum(aux_losses) / len(aux_losses)
    return main + self.aux_loss_weight * sum(aux_losses), metrics

  def eval_sums(self, logits: jax.Array, labels: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Sums over real examples; adding them over batches and dividing once keeps every example equal.

    "confusion" counts [true class, predicted class] pairs (a scatter-add in the step, summed over devices
    and batches like the other sums, so the split's matrix is exact).
    """
    logits = logits.astype(jnp.float32)
    num_classes = logits.shape[-1]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    predictions = jnp.argmax(logits, -1)
    correct = (predictions == labels).astype(jnp.float32)
    sums = {"loss_sum": jnp.sum(losses * mask), "correct": jnp.sum(correct * mask), "count": jnp.sum(mask),
            "confusion": confusion_matrix(labels, predictions, mask, num_classes)}
    for k in TOP_K:
      if num_classes > k:
        _, top = jax.lax.top_k(logits, k)
        in_top = jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)
        sums[f"correct_top{k}"] = jnp.sum(in_top * mask)
    return sums

  def finalize(self, sums: dict) -> dict:
    """Scalar metrics, and under "classes" the confusion matrix (rows: true class, columns: predicted) and
    per-class accuracy (NaN-free: a class with no example gets None)."""
    count = float(sums["count"])
    metrics = {"loss": float(sums["loss_sum"]) / count, "accuracy": float(sums["correct"]) / count}
    for k in TOP_K:
      if f"correct_top{k}" in sums:
        metrics[f"top{k}_accuracy"] = float(sums[f"correct_top{k}"]) / count
    metrics["num_examples"] = int(round(count))
    confusion = np.rint(np.asarray(sums["confusion"], np.float64)).astype(np.int64)
    support = confusion.sum(1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else None for c in range(len(confusion))]
    metrics["classes"] = {"confusion_matrix": confusion.tolist(), "per_class_accuracy": per_class,
                          "support": support.tolist()}
    return metrics


def confusion_matrix(labels: jax.Array, predictions: jax.Array, weights: jax.Array, num_classes: int) -> jax.Array:
  """[num_classes, num_classes] counts, rows the true class and columns the prediction.

  Pixels with weight 0 (ignored or padding) add nothing; labels must lie in [0, num_classes)
  wherever the weight is non-zero.
  """
  index = jnp.clip(labels, 0, num_classes - 1) * num_classes + predictions
  counts = jnp.zeros(num_classes * num_classes, jnp.float32).at[index.reshape(-1)].add(weights.reshape(-1))
  return counts.reshape(num_classes, num_classes)


def iou_from_confusion(confusion) -> tuple[np.ndarray, np.ndarray]:
  """Per-class IoU = TP / (TP + FP + FN) and whether the class occurs (in labels or predictions)."""
  confusion = np.asarray(confusion, np.float64)
  true_positive = np.diag(confusion)
  union = confusion.sum(0) + confusion.sum(1) - true_positive
  present = union > 0
  return np.where(present, true_positive / np.maximum(union, 1), 0.0), present


class Segmentation(SummedMetrics):
  """Pixel-wise softmax cross-entropy averaged over labelled pixels; pixel accuracy and mean IoU.

  Why: FCN/U-Net training (Long et al. 2015, Ronneberger et al. 2015). Pixels labelled
  `ignore_label` (or any value outside [0, C)) count nowhere. Evaluation sums a confusion matrix
  over the whole split, so mean IoU is that of the split, not a mean of per-batch IoUs.
  Logits [N, h, w, C] smaller than labels [N, H, W] (unpadded U-Net) are compared with the
  labels' centre crop.
  """

  def __init__(self, ignore_label: int = 255):
    self.ignore_label = ignore_label

  def _valid(self, logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    labels = center_crop(labels, logits.shape[1], logits.shape[2])
    valid = (labels != self.ignore_label) & (labels >= 0) & (labels < logits.shape[-1])
    return jnp.where(valid, labels, 0), valid.astype(jnp.float32)

  def loss(self, logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean cross-entropy over labelled pixels of a training batch and their accuracy."""
    logits = logits.astype(jnp.float32)
    labels, valid = self._valid(logits, labels)
    count = jnp.maximum(valid.sum(), 1.0)
    loss = jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, labels) * valid) / count
    accuracy = jnp.sum((jnp.argmax(logits, -1) == labels) * valid) / count
    return loss, {"loss": loss, "accuracy": accuracy}

  def eval_sums(self, logits: jax.Array, labels: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Confusion matrix, loss sum and pixel count over labelled pixels of real (mask 1) examples."""
    logits = logits.astype(jnp.float32)
    labels, valid = self._valid(logits, labels)
    weights = valid * mask.reshape((-1, 1, 1))
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return {"confusion": confusion_matrix(labels, jnp.argmax(logits, -1), weights, logits.shape[-1]),
            "loss_sum": jnp.sum(losses * weights), "pixels": jnp.sum(weights), "count": jnp.sum(mask)}

  def finalize(self, sums: dict) -> dict[str, float]:
    confusion = np.asarray(sums["confusion"], np.float64)
    iou, present = iou_from_confusion(confusion)
    pixels = float(sums["pixels"])
    metrics = {"loss": float(sums["loss_sum"]) / pixels, "accuracy": float(np.trace(confusion)) / pixels,
               "mean_iou": float(iou[present].mean()), "num_examples": int(round(float(sums["count"]))),
               "num_pixels": int(round(pixels))}
    metrics.update({f"iou_class{c}": float(iou[c]) for c in np.flatnonzero(present)})
    return metrics


# config.task -> the task built from the config's options.
TASKS: dict[str, Callable[..., object]] = {
    "classification": lambda config: Classification(aux_loss_weight=config.get("aux_loss_weight", 0.3),
                                                    label_smoothing=config.get("label_smoothing", 0.0)),
    "segmentation": lambda config: Segmentation(),
    "detection": lambda config: _detection(config),
}


def _detection(config):
  method = config.detection.method
  if method not in detection.OBJECTIVES:
    raise InputError(f"config.detection.method={method!r} is unknown; use one of {sorted(detection.OBJECTIVES)}")
  return detection.Detection(detection.OBJECTIVES[method](config), config.dataset.num_classes)


def get_task(name: str, config=None):
  """The task `name`, with its options read from `config` (the defaults without one)."""
  if name not in TASKS:
    raise InputError(f"config.task={name!r} is unknown; use one of {sorted(TASKS)}")
  return TASKS[name](config if config is not None else {})
