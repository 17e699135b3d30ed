"""The model registry and the foundation's models: exact parameter counts, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.models import MODELS, get_model, registry


def _param_count(model, shape):
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape)))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables["params"]))


def test_duplicate_names_are_refused():
  with pytest.raises(ValueError, match="registered twice"):
    registry.build_registry([("a", object), ("a", object)])


def test_unknown_name_lists_close_matches():
  with pytest.raises(KeyError, match="did you mean lenet5"):
    get_model("lenet6")


def test_registry_is_read_only():
  with pytest.raises(TypeError):
    MODELS["x"] = object


@pytest.mark.parametrize("shape", [(1, 28, 28, 1), (1, 32, 32, 1)])
def test_lenet5_has_61706_parameters_on_28_and_32_inputs(shape):
  assert _param_count(get_model("lenet5"), shape) == 61_706


def test_lenet5_first_convolution_sees_a_32x32_field_on_28x28_input():
  model = get_model("lenet5")
  variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
  _, state = model.apply(variables, jnp.zeros((2, 28, 28, 1)), capture_intermediates=True, mutable=["intermediates"])
  assert state["intermediates"]["conv1"]["__call__"][0].shape == (2, 28, 28, 6)


def test_linear_and_mlp_parameter_counts():
  assert _param_count(get_model("linear", num_classes=10), (1, 28, 28, 1)) == 784 * 10 + 10
  mlp = get_model("mlp", num_classes=10, hidden_sizes=(256, 128))
  assert _param_count(mlp, (1, 28, 28, 1)) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10


def test_mlp_activation_is_checked():
  model = get_model("mlp", activation="softsign")
  with pytest.raises(ValueError, match="activation"):
    model.init(jax.random.key(0), jnp.zeros((1, 4)))


def test_models_package_does_not_import_tensorflow():
  import subprocess
  import sys
  code = "import sys, cnnjax.models; assert 'tensorflow' not in sys.modules and 'tensorflow_datasets' not in sys.modules"
  subprocess.run([sys.executable, "-c", code], check=True)
