"""What model_kwargs and augment may hold: read from the models' fields and the augmentations' signatures."""

import pytest

from cnnjax.errors import InputError
from cnnjax.models import MODELS
from cnnjax.train import config as config_lib, config_options


def test_lenet5_options_are_its_fields_with_the_factorys_defaults():
  assert config_options.model_options("lenet5") == {
      "conv_features": (6, 16), "hidden_sizes": (120, 84), "kernel_size": 5, "conv1_padding": None,
      "activation": "relu", "pool": "max", "dtype": "float32"}
  assert config_options.model_building_blocks("lenet5") == ("conv", "max_pool")
  assert config_options.model_dtype_options("lenet5") == ("dtype",)
  assert config_options.model_option_type("lenet5", "conv1_padding") is int  # `int | None = None`
  assert config_options.model_option_type("lenet5", "hidden_sizes") is tuple


def test_resnet_blocks_with_a_none_default_are_not_options():
  """`attention: ModuleDef | None = None` is a building block; the depth's stage sizes are an option."""
  options = config_options.model_options("cifar_resnet56")
  assert options["stage_sizes"] == (9, 9, 9) and options["stem_stride"] == 1
  assert {"attention", "norm_act", "block", "conv", "norm"} <= set(config_options.model_building_blocks("resnet50"))
  assert not {"attention", "norm_act"} & set(options)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_takes_a_dtype_by_name(model):
  assert config_options.model_options(model)["dtype"] == "float32"
  if model == "logistic_neuron":  # one output and no num_classes: no training config runs it
    return
  config = config_lib.default_config()
  config.model = model
  config.model_kwargs.dtype = "bfloat16"
  config_lib.check_config(config)


def test_augmentation_keywords_come_from_their_signatures():
  assert config_options.augment_names() == ["affine", "color", "crop", "flip"]
  assert config_options.augment_options("crop") == {"padding": 4, "label_fill": 0}
  assert config_options.augment_options("flip") == {"probability": 0.5}


@pytest.mark.parametrize("section,value,message", [
    ("model_kwargs", {"activations": "relu"},
     "config.model_kwargs.activations is not an option of lenet5; did you mean config.model_kwargs.activation?"),
    ("model_kwargs", {"dtype": "bf16"}, "config.model_kwargs.dtype='bf16' is not a floating-point dtype"),
    ("model_kwargs", {"num_classes": 3}, "config.dataset.num_classes"),
    ("augment", {"flipp": {}}, "config.augment.flipp is not an augmentation; did you mean config.augment.flip?"),
    ("augment", {"crop": {"pading": 2}},
     "config.augment.crop.pading is not a keyword of crop; did you mean config.augment.crop.padding?"),
])
def test_unknown_options_are_refused_with_close_matches(section, value, message):
  config = config_lib.default_config()
  config[section] = value
  with pytest.raises(InputError) as caught:
    config_lib.check_config(config)
  assert message in str(caught.value)
