"""The model registry and the foundation's models: exact parameter counts, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.errors import InputError
from cnnjax.models import INPUTS, MODELS, get_model, registry


def _param_count(model, shape):
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape)))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables["params"]))


def test_duplicate_names_are_refused():
  with pytest.raises(ValueError, match="registered twice"):
    registry.build_registry([("a", object), ("a", object)])


def test_unknown_name_lists_close_matches():
  """An InputError (one line, exit 2 in `cnnjax`) that is still a KeyError, and whose text is not quoted."""
  with pytest.raises(KeyError, match="did you mean 'lenet5'") as raised:
    get_model("lenet6")
  assert isinstance(raised.value, InputError)
  assert str(raised.value).startswith("model='lenet6' is unknown; did you mean 'lenet5'")


def test_every_model_has_its_own_input():
  assert list(INPUTS) == [name for name in INPUTS if name in MODELS] and set(INPUTS) == set(MODELS)
  for name, spec in INPUTS.items():
    assert len(spec.shape) in spec.ranks and min(spec.shape) >= 1, name
  assert INPUTS["mnist1d_cnn"].layouts == ("L", "L,C") and INPUTS["unet"].shape == (572, 572, 1)
  with pytest.raises(KeyError, match="did you mean 'unet'"):
    registry.input_spec("unets")


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
