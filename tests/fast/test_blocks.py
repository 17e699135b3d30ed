"""cnnjax.fast.blocks: plain models by default; the chosen fast blocks change speed, never the function.

Done-when of the "Plain models" issue: forward-mode differentiation (jax.jvp) through a default
model works on CPU, which the oneDNN custom call (reverse mode only) would refuse.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.fast import blocks, onednn_conv, small_map_conv
from cnnjax.fast.batch_norm_relu import BatchNormReLU
from cnnjax.layers import BatchNorm
from cnnjax.models import get_model

ONEDNN_ON = onednn_conv.onednn_status() == "on"


def _init(model, shape):
  return model.init(jax.random.key(0), jnp.zeros(shape), train=False)


def _conv_fn(model):
  conv = model.conv
  return conv.keywords.get("conv_general_dilated") if isinstance(conv, functools.partial) else None


def test_default_models_support_forward_mode_on_cpu():
  model = get_model("cifar_resnet20")
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables = _init(model, x.shape)
  _, tangent = jax.jvp(lambda x: model.apply(variables, x), (x,), (jnp.ones_like(x),))
  jaxpr = str(jax.make_jaxpr(lambda x: model.apply(variables, x))(x))
  assert tangent.shape == (2, 10) and np.isfinite(np.asarray(tangent)).all()
  assert "ffi_call" not in jaxpr and "custom_vjp" not in jaxpr


def test_off_keeps_every_model_plain():
  fast = blocks.choose("off")
  for name in ("cifar_resnet20", "vgg11_bn", "lenet5", "fcn8s", "densenet121"):
    model = get_model(name)
    assert fast.apply(model, name) is model
  assert fast.describe()["mode"] == "off"


def test_auto_on_cpu_chooses_onednn_small_maps_and_batch_norm_relu():
  fast = blocks.choose("auto", backend="cpu")
  resnet = fast.apply(get_model("cifar_resnet20"), "cifar_resnet20")
  vgg = fast.apply(get_model("vgg11_bn"), "vgg11_bn")
  assert resnet.norm_act is BatchNormReLU and vgg.norm_act is BatchNormReLU
  assert _conv_fn(vgg) is small_map_conv.conv_general_dilated  # VGG's per-model choice
  assert _conv_fn(resnet) is (onednn_conv.conv_general_dilated if ONEDNN_ON else None)
  described = fast.describe(resnet)
  assert described["norm_act"] == "BatchNormReLU" and described["mode"] == "auto"


@pytest.mark.parametrize("backend, dtype, why", [("gpu", "float32", "off: backend gpu"),
                                                 ("cpu", "bfloat16", "off: dtype bfloat16")])
def test_onednn_only_on_cpu_in_float32(backend, dtype, why):
  fast = blocks.choose("auto", backend=backend, dtype=dtype)
  assert fast.onednn == why and fast.conv_general_dilated is None
  model = fast.apply(get_model("cifar_resnet20"), "cifar_resnet20")
  assert model.conv is nn.Conv and model.norm_act is BatchNormReLU  # BatchNormReLU is pure JAX: any backend
  assert fast.small_map_conv == (backend == "cpu")


def test_blocks_the_caller_chose_are_kept_and_fusion_needs_relu_and_default_norm():
  fast = blocks.choose("auto", backend="cpu")
  mine = functools.partial(nn.Conv, use_bias=True)
  assert fast.apply(get_model("cifar_resnet20", conv=mine), "cifar_resnet20").conv is mine
  assert fast.apply(get_model("cifar_resnet20", act=nn.tanh), "cifar_resnet20").norm_act is None
  other_norm = functools.partial(BatchNorm, momentum=0.99)
  assert fast.apply(get_model("cifar_resnet20", norm=other_norm), "cifar_resnet20").norm_act is None
  assert fast.apply(get_model("densenet121"), "densenet121").norm is BatchNorm  # no norm_act field: unchanged


def test_unknown_mode_is_refused():
  with pytest.raises(ValueError, match="fast_paths='fastest' is unknown"):
    blocks.choose("fastest")


@pytest.mark.parametrize("name, shape", [("cifar_resnet20", (4, 16, 16, 3)), ("vgg11_bn", (2, 32, 32, 3))])
def test_fast_and_plain_models_share_variables_and_compute_the_same(name, shape):
  """Same variable tree; training-mode outputs, batch statistics and gradients equal to float32 rounding."""
  kwargs = {"stages": ((8,), (8,), (8, 8), (8, 8), (8, 8)), "hidden_size": 16, "pool_size": (1, 1),
            "dropout_rate": 0.0} if name.startswith("vgg") else {}
  plain = get_model(name, num_classes=10, **kwargs)
  fast = blocks.choose("auto").apply(plain, name)
  variables = _init(plain, shape)
  assert jax.tree.structure(variables) == jax.tree.structure(_init(fast, shape))
  x = jax.random.normal(jax.random.key(2), shape)

  def loss(model, params):
    logits, updates = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
    return jnp.sum(logits * jnp.arange(10.0)), (logits, updates)

  (_, (plain_out, plain_stats)), plain_grads = jax.value_and_grad(functools.partial(loss, plain), has_aux=True)(
      variables["params"])
  (_, (fast_out, fast_stats)), fast_grads = jax.value_and_grad(functools.partial(loss, fast), has_aux=True)(
      variables["params"])
  scale = float(jnp.abs(plain_out).max())
  np.testing.assert_allclose(fast_out, plain_out, atol=1e-4 * scale, rtol=0)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), fast_stats, plain_stats)
  # Gradients: a unit within rounding of 0 may take the other ReLU branch in one of the two (a kink),
  # which moves a gradient by a fraction of a percent of its largest entry; a wrong block moves it by O(1).
  fast_flat, plain_flat = (jax.tree_util.tree_flatten_with_path(g)[0] for g in (fast_grads, plain_grads))
  for (path, g_fast), (_, g_plain) in zip(fast_flat, plain_flat):
    tolerance = 1e-2 * float(jnp.abs(g_plain).max()) + 1e-6
    np.testing.assert_allclose(g_fast, g_plain, atol=tolerance, rtol=0, err_msg=jax.tree_util.keystr(path))
