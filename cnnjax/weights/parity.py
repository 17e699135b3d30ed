"""Numerical parity of a converted pair: a random reference model, its converted twin, the same input.

The reference is randomly initialised (no downloads) and its batch norms get random affine
parameters and running statistics, so that a swapped mean/var or scale/bias shows. Eval mode
compares logits with running statistics; train mode compares logits with batch statistics (flax
`train=True, mutable=["batch_stats"]` against torch `.train()`). The difference is reported relative
to the reference: max |cnnjax - torch| / max |torch|. Used by tests/weights and
experiments/weights/parity_table.py.
"""

import dataclasses

import jax
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
  eval_relative: float
  train_relative: float


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
    expected_train = reference.train()(x_torch).numpy()
  ours_eval = jax.jit(lambda v, x: model.apply(v, x, train=False))(converted.variables, x)
  ours_train, _ = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(converted.variables, x)
  return Parity(source, name, converted.model, (n, h, w, c),
                relative_difference(np.asarray(ours_eval), expected_eval),
                relative_difference(np.asarray(ours_train), expected_train))
