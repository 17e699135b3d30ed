"""Every registered model, in the style of timm's tests/test_models.py.

Every classification model runs forward and backward for real on a small input: finite outputs, and
every parameter receives a finite nonzero gradient (segmentation models: test_segmentation_models.py).
Variables come from the traced model.init filled by numpy (compiling JAX's initialisers of 43 models
would dominate the suite). Tiny members of each family exercise the remaining options
(bottleneck + cardinality + SE, zero-padded shortcuts, bfloat16 compute).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import SqueezeExcite
from cnnjax.models import MODELS, get_model
from cnnjax.models import densenet, googlenet, resnet, vgg
from tests.models import test_detectors as detector_tests
from tests.models import test_segmentation_models as segmentation_tests
from tests.models.variables import numpy_variables

ISSUE_NAMES = [
    "lenet1", "lenet5", "alexnet", "alexnet_torchvision",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "googlenet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56", "cifar_resnet110",
    "resnext50_32x4d", "resnext101_32x8d", "resnext29_8x64d",
    "densenet121", "densenet169", "densenet201", "densenet_bc_100_k12", "se_resnet50", "se_resnext50_32x4d",
]

SEGMENTATION = {"fcn8s", "fcn16s", "fcn32s", "segnet", "unet", "unet_padded"}  # test_segmentation_models.py
DETECTION = {"centernet_resnet20", "centernet_resnet20_s8", "rcnn_lenet5"}  # test_detectors.py

# Input shape and overrides per model. The overrides shrink only fully connected widths (AlexNet's and
# VGG's 4096-wide classifiers would dominate a small-input step); every convolutional stack is the
# registered one. Models not listed take (2, 32, 32, 3).
SMALL_FC = {"hidden_size": 16}
CASES = {
    "linear": ((2, 28, 28, 1), {}),
    "logistic_neuron": ((2, 28, 28, 1), {}),
    "mlp": ((2, 28, 28, 1), {}),
    "conv1d": ((2, 40, 1), {}),
    "mnist1d_cnn": ((2, 40, 1), {}),
    "lenet1": ((2, 28, 28, 1), {}),
    "lenet5": ((2, 28, 28, 1), {}),
    "alexnet": ((2, 67, 67, 3), SMALL_FC),
    "alexnet_torchvision": ((2, 63, 63, 3), SMALL_FC),
    **{f"vgg{depth}{bn}": ((2, 32, 32, 3), {**SMALL_FC, "pool_size": (1, 1)})
       for depth in (11, 13, 16, 19) for bn in ("", "_bn")},
}
CLASSIFIERS = sorted(set(MODELS) - SEGMENTATION - DETECTION)


def test_registry_has_every_model_of_the_issue():
  missing = [n for n in ISSUE_NAMES if n not in MODELS]
  assert not missing


def test_unknown_name_suggests_close_matches():
  with pytest.raises(KeyError, match="resnet50"):
    get_model("resnet5O")


def test_every_registered_model_is_tested_for_real():
  """Classifiers run test_forward_backward here; segmentation models test_segmentation_models.py's forward and
  backward test, whose SMALL must list exactly SEGMENTATION; detectors test_detectors.py (DETECTORS). A segmentation model missing from SEGMENTATION
  fails test_forward_backward's logits shape check instead."""
  assert SEGMENTATION | DETECTION <= set(MODELS), f"not registered: {(SEGMENTATION | DETECTION) - set(MODELS)}"
  assert set(detector_tests.DETECTORS) == DETECTION, "test_detectors.DETECTORS and DETECTION differ"
  assert set(segmentation_tests.SMALL) == SEGMENTATION, "test_segmentation_models.SMALL and SEGMENTATION differ"
  assert set(CASES) | DEEPER_VARIANTS <= set(CLASSIFIERS), "CASES or DEEPER_VARIANTS name no registered classifier"


def _loss_and_grads(model, variables, x, rng):
  def loss(params):
    out, _ = model.apply({**variables, "params": params}, x, train=True, rngs={"dropout": rng},
                         mutable=["batch_stats"])
    weights = jax.random.normal(rng, out.shape)  # every output (class) gets its own gradient signal
    return jnp.sum(out * weights), out

  return jax.value_and_grad(loss, has_aux=True)(variables["params"])


def _check_real(model, shape, variables=None):
  rng = jax.random.key(0)
  x = jax.random.normal(rng, shape)
  variables = numpy_variables(model, x) if variables is None else variables

  @jax.jit
  def run(variables, x):
    return model.apply(variables, x), _loss_and_grads(model, variables, x, rng)

  logits, ((_, out), grads) = run(variables, x)
  num_classes = getattr(model, "num_classes", None)
  assert logits.shape == ((shape[0], num_classes) if num_classes else (shape[0],)), (
      f"logits {logits.shape}; a dense-prediction model belongs in SEGMENTATION")
  assert logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits)) and np.all(np.isfinite(out))
  dead = [jax.tree_util.keystr(path) for path, g in jax.tree_util.tree_leaves_with_path(grads)
          if not np.any(np.asarray(g) != 0) or not np.all(np.isfinite(g))]
  assert not dead, f"parameters without a finite nonzero gradient: {dead}"


# Deeper (or wider) members of a family run the same blocks and code as a smaller one tested here (the DenseNet
# ImageNet form as TINY's densenet_imagenet_form, resnet50, resnext50_32x4d, se_resnext50_32x4d, cifar_resnet20) and
# take minutes on 2 cores: they run with `-m slow`. Their exact parameter counts are still checked without computing
# (test_counts.py); densenet121's forward pass also runs in tests/weights' parity test.
DEEPER_VARIANTS = {"densenet121", "densenet169", "densenet201", "resnet101", "resnet152", "cifar_resnet32",
                   "cifar_resnet44", "cifar_resnet56", "cifar_resnet110", "resnext101_32x8d", "resnext101_64x4d",
                   "se_resnet50", "wide_resnet50_2", "wide_resnet101_2"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEPER_VARIANTS else n
                                  for n in CLASSIFIERS])
def test_forward_backward(name):
  shape, overrides = CASES.get(name, ((2, 32, 32, 3), {}))
  kwargs = {} if name == "logistic_neuron" else {"num_classes": 7}
  _check_real(get_model(name, **kwargs, **overrides), shape)


TINY = {
    "bottleneck_resnext_se": functools.partial(
        resnet.ResNet, stage_sizes=(1, 2), widths=(16, 32), block=resnet.Bottleneck, cardinality=4, base_width=8,
        attention=functools.partial(SqueezeExcite, reduction=4)),
    "cifar_option_a": functools.partial(resnet.cifar_resnet, 8),
    "densenet_imagenet_form": functools.partial(densenet.DenseNet, block_sizes=(1, 2), growth_rate=4,
                                                num_init_features=8),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_family_members(name):
  _check_real(TINY[name](num_classes=5), (2, 16, 16, 3))


def test_googlenet_aux_heads_train_only():
  model = googlenet.GoogLeNet(num_classes=5, aux_logits=True)
  x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  assert {"aux1", "aux2"} <= set(variables["params"])
  _, state = jax.eval_shape(lambda v, x: model.apply(v, x, train=True, rngs={"dropout": jax.random.key(1)},
                                                     mutable=["batch_stats", "intermediates"]), variables, x)
  assert state["intermediates"]["aux1_logits"][0].shape == (2, 5)
  _, state = jax.eval_shape(lambda v, x: model.apply(v, x, mutable=["intermediates"]), variables, x)
  assert "aux1_logits" not in state.get("intermediates", {})


def test_dropout_differs_between_train_and_eval():
  model = get_model("alexnet", num_classes=5, hidden_size=64)
  x = jax.random.normal(jax.random.key(0), (2, 67, 67, 3))

  @jax.jit
  def outputs(x):
    variables = model.init(jax.random.key(0), x)
    train = [model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(k)}) for k in (1, 2)]
    return model.apply(variables, x), model.apply(variables, x), *train

  eval_a, eval_b, train_a, train_b = outputs(x)
  np.testing.assert_array_equal(eval_a, eval_b)
  assert not np.allclose(train_a, train_b) and not np.allclose(train_a, eval_a)


def test_batch_norm_differs_between_train_and_eval():
  model = resnet.cifar_resnet(8, num_classes=5)
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (4, 8, 8, 3))

  @jax.jit
  def outputs(x):
    variables = model.init(jax.random.key(0), x)
    train_out, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    return variables, train_out, updates, model.apply(variables, x)

  variables, train_out, updates, eval_out = outputs(x)
  assert not np.allclose(train_out, eval_out)
  old, new = variables["batch_stats"]["bn1"]["mean"], updates["batch_stats"]["bn1"]["mean"]
  assert not np.allclose(old, new)  # running statistics move only in training


def test_zero_init_last_bn_makes_blocks_identity():
  model = resnet.cifar_resnet(8, num_classes=5, zero_init_last_bn=True)
  variables = model.init(jax.random.key(0), jnp.ones((1, 16, 16, 3)))
  assert np.all(variables["params"]["layer1_block0"]["bn2"]["scale"] == 0)
  big = resnet.resnet50(zero_init_last_bn=True)
  shapes = jax.eval_shape(big.init, jax.random.key(0), jnp.ones((1, 32, 32, 3)))
  assert "bn3" in shapes["params"]["layer1_block0"]
  feats = model.apply(variables, jnp.ones((1, 16, 16, 3)), method=resnet.ResNet.features)
  stem = feats["stem"]
  np.testing.assert_allclose(feats["layer1"], stem, atol=1e-6)  # relu(0 + x) = x after a ReLU stem


def test_bfloat16_compute_keeps_float32_params():
  model = resnet.cifar_resnet(8, num_classes=5, dtype=jnp.bfloat16)
  x = jnp.ones((2, 16, 16, 3))
  variables = model.init(jax.random.key(0), x)
  assert {p.dtype for p in jax.tree.leaves(variables["params"])} == {jnp.dtype(jnp.float32)}
  assert model.apply(variables, x, method=resnet.ResNet.features)["layer3"].dtype == jnp.bfloat16
  logits = model.apply(variables, x)
  assert logits.dtype == jnp.float32 and np.all(np.isfinite(logits))


@pytest.mark.parametrize("name,expected", [
    ("resnet50", {"stem": (16, 16, 64), "layer1": (16, 16, 256), "layer2": (8, 8, 512),
                  "layer3": (4, 4, 1024), "layer4": (2, 2, 2048)}),
    ("cifar_resnet20", {"stem": (64, 64, 16), "layer1": (64, 64, 16), "layer2": (32, 32, 32),
                        "layer3": (16, 16, 64)}),
    ("vgg16", {"conv1": (64, 64, 64), "pool3": (8, 8, 256), "pool4": (4, 4, 512), "conv5": (4, 4, 512),
               "pool5": (2, 2, 512)}),
    ("densenet121", {"stem": (16, 16, 64), "block1": (16, 16, 256), "block2": (8, 8, 512),
                     "block3": (4, 4, 1024), "block4": (2, 2, 1024)}),
])
def test_backbones_return_named_features(name, expected):
  model = get_model(name)
  x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  feats = jax.eval_shape(lambda v, x: model.apply(v, x, method=type(model).features), variables, x)
  for key, shape in expected.items():
    assert feats[key].shape == (1, *shape), key


def test_errors_name_the_fix():
  with pytest.raises(ValueError, match="6n\\+2"):
    resnet.cifar_resnet(21)
  with pytest.raises(ValueError, match="stem"):
    jax.eval_shape(resnet.ResNet(stage_sizes=(1,), widths=(8,), stem="tiny").init, jax.random.key(0),
                   jnp.ones((1, 8, 8, 3)))
  with pytest.raises(ValueError, match="at least 32x32"):
    jax.eval_shape(vgg.vgg11().init, jax.random.key(0), jnp.ones((1, 16, 16, 3)))
