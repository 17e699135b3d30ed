"""Parity checks for converted (torchvision, cnnjax) pairs: logits in eval and train mode, round trip, key errors.

The reference is randomly initialised (never downloaded) with randomised BN affine parameters and
running statistics, so a mapping that swapped scale and mean, or a wrong epsilon, shows. Tolerance:
max |cnnjax - torch| <= 1e-4 * max |torch| (the issue's bar).
"""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.models import get_model
from cnnjax.weights.mapping import to_cnnjax, to_torch
from cnnjax.weights.pairs import Pair
from cnnjax.weights.torch_shim import import_torch

RELATIVE_TOLERANCE = 1e-4
NUM_CLASSES = 10


def reference_model(pair: Pair, seed: int = 0, build=None):
  """The torch reference (or `build(num_classes)`) with BN weight, bias, running mean and variance randomised."""
  torch = import_torch()
  torch.manual_seed(seed)
  model = (build or pair.reference)(NUM_CLASSES)
  with torch.no_grad():
    for module in model.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        module.weight.uniform_(0.5, 1.5)
        module.bias.normal_(0.0, 0.1)
        module.running_mean.normal_(0.0, 0.1)
        module.running_var.uniform_(0.5, 1.5)
  return model


def torch_state(model) -> dict[str, np.ndarray]:
  """The model's state dict as numpy copies (what cnnjax.weights.state_dict.load_state_dict returns).

  Copies, because torch updates running statistics in place in train mode while jax, dispatching
  asynchronously, may still be reading the same numpy buffers without having copied them.
  """
  return {name: tensor.detach().cpu().numpy().copy() for name, tensor in model.state_dict().items()}


def cnnjax_model(pair: Pair, num_classes: int = NUM_CLASSES, **kwargs):
  """The pair's cnnjax model with the pair's options (and `kwargs`, e.g. dropout_rate=0.0)."""
  return get_model(pair.model, num_classes=num_classes, **{**pair.model_kwargs, **kwargs})


def convert(pair: Pair, state: dict, model, input_shape) -> dict:
  """cnnjax variables for `model` from the torch `state`, through the pair's table."""
  template = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *input_shape), jnp.float32))
  return to_cnnjax(pair.current_keys(state), pair.entries(), template, f"{pair.name} state dict", pair.ignored)


def torch_logits(model, x: np.ndarray, train: bool = False) -> np.ndarray:
  """Logits of the torch model on NHWC `x`; train mode uses BN batch statistics with dropout off."""
  torch = import_torch()
  model.train(train)
  for module in model.modules():
    if isinstance(module, torch.nn.Dropout):
      module.eval()
  threads = torch.get_num_threads()
  torch.set_num_threads(1)  # on the shared 2-core CPU one thread is ~10x faster than two contending ones
  try:
    with torch.no_grad():
      return model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
  finally:
    torch.set_num_threads(threads)


def cnnjax_logits(model, variables, x: np.ndarray, train: bool = False):
  """Logits (and, in train mode, the updated batch_stats) of the cnnjax model on NHWC `x`."""
  if train:  # jitted: one XLA compile is several times faster than op-by-op dispatch for these deep nets
    return jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, jnp.asarray(x))
  return np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, jnp.asarray(x))), None


def assert_close(actual, reference, what: str) -> float:
  """max |actual - reference| <= 1e-4 * max |reference|; returns the ratio of the two maxima."""
  actual, reference = np.asarray(actual), np.asarray(reference)
  assert actual.shape == reference.shape, f"{what}: shape {actual.shape} vs {reference.shape}"
  error, scale = float(np.max(np.abs(actual - reference))), float(np.max(np.abs(reference)))
  assert scale > 0, f"{what}: the reference is all zeros, which proves nothing"
  assert error <= RELATIVE_TOLERANCE * scale, f"{what}: max error {error:.3g} > 1e-4 x {scale:.3g}"
  return error / scale


def check_pair(pair: Pair, input_shape: tuple[int, int, int], batch: int = 2, seed: int = 0,
               train: bool = True, round_trip: bool = True) -> dict[str, float]:
  """Eval-mode logits, train-mode (BN batch statistics) logits and running means, and the round trip.

  Returns max |error| / max |reference| per check. Round trip: the converted variables exported
  with to_torch load strictly into the reference, its tensors zeroed first (a second
  100M-parameter build would double the time), and give its logits again.
  """
  torch = import_torch()
  reference = reference_model(pair, seed)
  state = torch_state(reference)
  x = np.random.default_rng(seed).normal(size=(batch, *input_shape)).astype(np.float32)
  eval_model = cnnjax_model(pair)
  variables = convert(pair, state, eval_model, input_shape)
  expected = torch_logits(reference, x)
  errors = {"eval": assert_close(cnnjax_logits(eval_model, variables, x)[0], expected, f"{pair.name} eval logits")}
  if round_trip:
    exported = to_torch(variables, pair.entries())
    with torch.no_grad():
      for tensor in reference.state_dict().values():
        tensor.zero_()
    reference.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in exported.items()}, strict=True)
    errors["round_trip"] = assert_close(torch_logits(reference, x), expected, f"{pair.name} round-trip logits")
  if train:
    train_model = cnnjax_model(pair, **({"dropout_rate": 0.0} if hasattr(eval_model, "dropout_rate") else {}))
    logits, updates = cnnjax_logits(train_model, variables, x, train=True)
    errors["train"] = assert_close(logits, torch_logits(reference, x, train=True), f"{pair.name} train-mode logits")
    if "batch_stats" in variables:
      updated = to_torch({**variables, "batch_stats": updates["batch_stats"]}, pair.entries())
      after = torch_state(reference)
      means = [name for name in updated if name.endswith("running_mean")]
      assert means, f"{pair.name}: no running means exported"
      errors["running_mean"] = max(  # torch momentum 0.1 == flax 0.9 (running variances differ by n / (n - 1))
          assert_close(updated[name], after[name], f"{pair.name} {name} after one train step") for name in means)
  return errors
