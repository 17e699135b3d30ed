"""Numerical parity of a converted pair: a random reference model, its converted twin, the same input.

The reference is randomly initialised (no downloads) and its batch norms get random affine
parameters and running statistics, so that a swapped mean/var or scale/bias shows. Eval mode
compares logits with running statistics; train mode compares logits with batch statistics (flax
`train=True, mutable=["batch_stats"]` against torch `.train()`), dropout off on both sides. The difference is reported relative
to the reference: max |cnnjax - torch| / max |torch|. Used by tests/weights and
experiments/weights/parity_table.py.

Train mode is measured twice: in float32, and in float64 on both sides (jax.enable_x64, torch
.double()). Batch statistics of a tiny batch make a deep network's float32 logits ill-conditioned:
for ResNet-152 on 2x64x96, torch's own float32 logits differ from its float64 ones by ~9e-4 relative,
so float32 cannot show 1e-4 agreement; float64 shows whether the two compute the same function.
`torch_train_noise` records torch's float32-vs-float64 difference, the float32 comparison's floor.
"""

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.models import get_model
from cnnjax.weights import convert
from cnnjax.weights.pairs import find_pair
from cnnjax.weights.torch_shim import import_torch

BATCH, HEIGHT, WIDTH = 2, 64, 96  # small and non-square: compile time dominates, transposed H/W would show
NUM_CLASSES = 10  # a fine-tuned head, so num_classes is inferred, not the default 1000


@dataclasses.dataclass(frozen=True)
class Parity:
  """Max relative differences of one pair on one input."""

  source: str
  name: str
  model: str
  input_shape: tuple[int, ...]  # cnnjax's [N, H, W, C]
  eval_relative: float  # float32, running statistics
  train_relative: float  # float32, batch statistics
  train_relative_float64: float  # float64 on both sides, batch statistics
  torch_train_noise: float  # torch float32 vs torch float64, batch statistics
  running_mean_relative: float  # BN running means after one train-mode step (torch momentum 0.1 == flax 0.9)


def randomise_batch_norms(module, seed: int = 0) -> None:
  """Random scale in [0.5, 1.5], bias and running mean N(0, 0.2^2), running var in [0.5, 2] in every BN."""
  torch = import_torch()
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for layer in module.modules():
      if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
        shape = layer.running_mean.shape
        layer.weight.copy_(0.5 + torch.rand(shape, generator=generator))
        layer.bias.copy_(0.2 * torch.randn(shape, generator=generator))
        layer.running_mean.copy_(0.2 * torch.randn(shape, generator=generator))
        layer.running_var.copy_(0.5 + 1.5 * torch.rand(shape, generator=generator))


def state_of(module) -> dict[str, np.ndarray]:
  """A torch module's state dict as numpy arrays (copies)."""
  return {key: value.detach().cpu().numpy().copy() for key, value in module.state_dict().items()}


def relative_difference(ours: np.ndarray, reference: np.ndarray) -> float:
  return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


def reference_with_random_statistics(source: str, name: str, num_classes: int = NUM_CLASSES, seed: int = 0):
  """The pair's torch model, seeded random weights and batch-norm statistics."""
  torch = import_torch()
  torch.manual_seed(seed)
  reference = convert.reference_model(source, name, num_classes)
  randomise_batch_norms(reference, seed)
  return reference


def measure(source: str, name: str, shape: tuple[int, int, int, int] | None = None, seed: int = 0) -> Parity:
  """Eval- and train-mode relative differences of the pair on a random [N, H, W, C] input."""
  torch = import_torch()
  pair = find_pair(source, name)
  n, h, w, c = shape or (BATCH, HEIGHT, WIDTH, pair.input_shape[-1])
  reference = reference_with_random_statistics(source, name, seed=seed)
  converted = convert.from_torch(source, name, state_of(reference), f"{source} {name}")
  model = get_model(converted.model, **converted.model_kwargs)
  x = np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)
  x_torch = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
  with torch.no_grad():
    expected_eval = reference.eval()(x_torch).numpy()
    expected_train = _train_without_dropout(reference)(x_torch).numpy()
    expected_train64 = _train_without_dropout(copy.deepcopy(reference).double())(x_torch.double()).numpy()
  ours_eval = jax.jit(lambda v, x: model.apply(v, x, train=False))(converted.variables, x)
  no_dropout = {"dropout_rate": 0.0} if hasattr(model, "dropout_rate") else {}
  ours_train, updates = _train_apply(get_model(converted.model, **converted.model_kwargs, **no_dropout),
                                     converted.variables, x)
  running_means = _running_mean_difference(source, name, converted.variables, updates, state_of(reference))
  with jax.enable_x64(True):
    model64 = get_model(converted.model, **converted.model_kwargs, **no_dropout, dtype=jnp.float64)
    variables64 = jax.tree.map(lambda v: np.asarray(v, np.float64), converted.variables)
    ours_train64, _ = _train_apply(model64, variables64, x.astype(np.float64))
  return Parity(source, name, converted.model, (n, h, w, c),
                relative_difference(np.asarray(ours_eval), expected_eval),
                relative_difference(ours_train, expected_train),
                relative_difference(ours_train64, expected_train64),
                relative_difference(expected_train, expected_train64), running_means)


def _train_without_dropout(module):
  """`module` in train mode with its dropout layers off: batch statistics compare, random masks cannot."""
  torch = import_torch()
  module.train()
  for layer in module.modules():
    if isinstance(layer, torch.nn.modules.dropout._DropoutNd):
      layer.eval()
  return module


def _train_apply(model, variables, x) -> tuple[np.ndarray, dict]:
  """Logits with batch statistics, and the updated batch_stats collection."""
  logits, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
  return np.asarray(logits), updates


def _running_mean_difference(source: str, name: str, variables: dict, updates: dict, after: dict) -> float:
  """Largest relative difference of the running means after one train step: ours exported vs torch's `after`.

  Running variances are left out: torch updates them with the unbiased batch variance, flax with the
  biased one (a factor n / (n - 1)), so they differ by convention, not by a mistake.
  """
  if "batch_stats" not in variables:
    return 0.0
  ours = convert.to_torch(source, name, {**variables, "batch_stats": jax.device_get(updates["batch_stats"])})
  means = [key for key in ours if key.endswith("running_mean")]
  return max(relative_difference(ours[key], after[key]) for key in means)
