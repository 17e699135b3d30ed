"""The CIFAR-10 and ImageNet recipes: their numbers, their schedules, and a few real steps on tfds mock data."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnjax.train import optim, runner

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def load(name, *preset):
  spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(*preset)


def _schedule(config, steps_per_epoch, total):
  lr = optim.base_learning_rate(config.optimizer, config.batch_size)
  return optim.make_schedule(config.schedule, lr, steps_per_epoch, total)


def test_cifar10_resnet20_is_he_et_al():
  config = load("cifar10_resnet20")
  assert (config.model, config.batch_size, config.num_train_steps) == ("cifar_resnet20", 128, 64_000)
  assert (config.optimizer.momentum, config.optimizer.weight_decay) == (0.9, 1e-4)
  schedule = _schedule(config, 50_000 // 128, 64_000)
  lrs = [float(schedule(s)) for s in (0, 31_999, 32_000, 47_999, 48_000, 63_999)]
  np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
  assert config.augment.to_dict() == {"crop": {"padding": 4}, "flip": {}}


def test_resnet_presets_are_the_papers_depths():
  """`--config configs/cifar10_resnet20.py:resnet56`: He et al.'s 6n+2 layers, n blocks per stage; same recipe."""
  from cnnjax.errors import InputError
  from cnnjax.train.config_options import model_options
  base = load("cifar10_resnet20").to_dict()
  for depth in (20, 32, 44, 56, 110):
    config = load("cifar10_resnet20", f"resnet{depth}")
    n = (depth - 2) // 6
    assert model_options(config.model)["stage_sizes"] == (n, n, n) and config.is_locked
    assert {**config.to_dict(), "model": base["model"]} == base
  config = load("fashion_mnist_resnet20", "resnet56,stem2")
  assert (config.model, config.model_kwargs.stem_stride) == ("cifar_resnet56", 2)
  assert [load("imagenet_resnet50", f"resnet{d}").model for d in (18, 34, 50, 101, 152)] == [
      "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
  with pytest.raises(InputError, match="preset='resnet57' is unknown; did you mean 'resnet56'"):
    load("cifar10_resnet20", "resnet57")


def test_imagenet_resnet50_is_goyal_et_al():
  config = load("imagenet_resnet50").unlock()
  config.batch_size = 1024
  steps = 1_281_167 // 1024
  schedule = _schedule(config, steps, 90 * steps)
  assert optim.base_learning_rate(config.optimizer, 1024) == pytest.approx(0.4)
  assert float(schedule(0)) == 0.0
  assert float(schedule(5 * steps)) == pytest.approx(0.4)
  for epoch, lr in [(29.9, 0.4), (30.1, 0.04), (60.1, 0.004), (80.1, 0.0004)]:
    assert float(schedule(int(epoch * steps))) == pytest.approx(lr, rel=1e-5)
  assert config.model_kwargs.zero_init_last_bn and config.dataset.random_resized_crop


@pytest.mark.parametrize("name,overrides,num_examples", [
    ("cifar10_resnet20", {"batch_size": 8, "eval_batch_size": 8, "num_train_steps": 2}, 16),
    # resnet18 stands in for resnet50 (same family and zero-init option) to keep the compile short.
    ("imagenet_resnet50", {"batch_size": 4, "eval_batch_size": 4, "num_train_steps": 2, "dataset.image_size": 32,
                           "dataset.shuffle_buffer": 8, "model": "resnet18"}, 8),
])
def test_recipe_runs_end_to_end_on_mock_data(tmp_path, name, overrides, num_examples):
  config = load(name).unlock()
  for key, value in {**overrides, "log_every_steps": 1, "eval_every_epochs": 0.0, "progress_bar": False,
                     "checkpoint_every_steps": 100}.items():
    target = config
    *parents, leaf = key.split(".")
    for p in parents:
      target = target[p]
    target[leaf] = value
  with tfds.testing.mock_data(num_examples=num_examples):
    results = runner.train_and_evaluate(config.lock(), tmp_path)
  final = results["final"]
  assert final["steps"] == 2 and np.isfinite(final["train_loss"])
  split = config.dataset.eval_split
  assert final[f"{split}_num_examples"] == num_examples


def test_fashion_mnist_resnet20_config_builds_its_model():
  import jax
  import jax.numpy as jnp

  from cnnjax.analysis.counting import count_multiply_adds, count_params
  from cnnjax.models import get_model
  config = load("fashion_mnist_resnet20")
  assert set(config.augment.to_dict()) == {"flip", "crop"}
  model = get_model(config.model, num_classes=10, **config.model_kwargs)
  variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
  assert count_params(variables) == 269_722 - 16 * 2 * 9  # one input channel instead of three
  # The paper's stride-1 stem; stride 2 puts the stages at 14, 7, 4 for about a quarter of the work.
  assert config.model_kwargs.stem_stride == 1
  strided = get_model(config.model, num_classes=10, **{**config.model_kwargs, "stem_stride": 2})
  full = count_multiply_adds(model, (1, 28, 28, 1))
  assert 0.2 < count_multiply_adds(strided, (1, 28, 28, 1)) / full < 0.3


def test_the_fcn_twins_differ_only_in_their_start_and_the_classifier_fits_their_fcn():
  """configs/fashion_scenes_fcn8s_{short,from_classifier}.py: same run but init_from; the classifier's variables
  convolutionalise into that FCN's shapes (all but score_fr, 10 garment classes against 11 with background)."""
  import jax
  import jax.numpy as jnp
  from cnnjax.models import get_model
  from cnnjax.train import init_from
  from cnnjax.weights import convolutionalize
  scratch, tuned = load("fashion_scenes_fcn8s_short").to_dict(), load("fashion_scenes_fcn8s_from_classifier").to_dict()
  assert {k for k in tuned if tuned[k] != scratch[k]} == {"init_from", "init_from_convert"}
  assert tuned["init_from"] == "runs/fine_tuning/fashion_mnist_vgg16_garments"
  classifier = load("fashion_mnist_vgg16_garments").to_dict()

  def zeros_like_variables(config):
    """The config's model's variables as zeros at its image size (shapes from jax.eval_shape)."""
    model = get_model(config["model"], num_classes=config["dataset"]["num_classes"], **config["model_kwargs"])
    size = config["dataset"]["image_size"]
    abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 1))))
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), abstract)

  fcn_vars = zeros_like_variables(scratch)
  source = convolutionalize.classifier_to_fcn(zeros_like_variables(classifier))
  _, report = init_from.merge(jax.device_get(fcn_vars), jax.device_get(source))
  assert [r.split()[0] for r in report["reinitialised"]] == ["params/score_fr/bias", "params/score_fr/kernel"]
  assert report["unused"] == 0 and report["loaded"] == 82
