"""Model variables filled by numpy, for tests that need real values but not JAX's initialisers."""

import jax
import numpy as np


def numpy_variables(model, x, seed=0):
  """Variables with the model's shapes (from jax.eval_shape of model.init) filled by numpy.

  He-normal kernels, unit scales and variances, zero biases and means. Why: compiling JAX's random
  initialisers of a deep model costs tens of seconds on a 2-core CPU; tracing init abstractly still
  checks that it builds.
  """
  rng = np.random.default_rng(seed)
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), x))

  def fill(path, leaf):
    name = str(path[-1].key)
    if name in ("scale", "var"):
      return np.ones(leaf.shape, leaf.dtype)
    if name in ("bias", "mean"):
      return np.zeros(leaf.shape, leaf.dtype)
    fan_in = int(np.prod(leaf.shape[:-1])) or 1
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), leaf.shape).astype(leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, abstract)
