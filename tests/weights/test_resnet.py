"""ResNet-family converters (cnnjax.weights.families.resnet): parity with torchvision and timm, round trips, errors.

Every pair of families/resnet.py: eval- and train-mode logits within 1e-4 relative of the random
reference on a 2x64x96 input, and an exact round trip. The smaller members run by default; the deeper
and wider ones (same blocks, ~15 s each on 2 busy cores) with `-m slow`, and all appear in
results/weights/parity.json.
"""

import numpy as np
import pytest

from cnnjax.errors import InputError
from cnnjax.weights import convert, parity
from cnnjax.weights.families import resnet
from cnnjax.weights.state_dict import load_state_dict, save_state_dict
from tests.weights.parity import assert_parity, assert_round_trip

DEFAULT = {("torchvision", "resnet18"), ("timm", "seresnext50_32x4d")}  # basic; bottleneck + groups + SE
PAIRS = [pytest.param(p.source, p.name, id=f"{p.source}-{p.name}",
                      marks=() if (p.source, p.name) in DEFAULT else pytest.mark.slow) for p in resnet.PAIRS]


@pytest.mark.parametrize("source,name", PAIRS)
def test_logits_match_the_reference_in_eval_and_train_mode(source, name):
  assert_parity(source, name)


@pytest.mark.parametrize("source,name", PAIRS)
def test_round_trip_is_exact_and_loads_strict(source, name):
  assert_round_trip(source, name)


def test_num_classes_comes_from_the_head():
  state = parity.state_of(convert.reference_model("torchvision", "resnet18", num_classes=7))
  converted = convert.from_torch("torchvision", "resnet18", state, "resnet18.pth")
  assert converted.model == "resnet18" and converted.model_kwargs == {"num_classes": 7}
  assert converted.variables["params"]["fc"]["kernel"].shape == (512, 7)
  assert np.array_equal(converted.variables["params"]["conv1"]["kernel"],
                        state["conv1.weight"].transpose(2, 3, 1, 0))
  assert set(converted.variables) == {"params", "batch_stats"}


def test_unknown_and_missing_keys_are_named_in_one_error():
  state = parity.state_of(convert.reference_model("torchvision", "resnet18", num_classes=10))
  del state["layer2.1.bn2.running_var"]
  state["layer9.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
  with pytest.raises(InputError) as raised:
    convert.from_torch("torchvision", "resnet18", state, "ft.pth")
  message = str(raised.value)
  assert len(message.splitlines()) == 1 and message.startswith("ft.pth: ")
  assert "layer9.0.conv1.weight" in message and "layer2.1.bn2.running_var" in message
  assert "batch_stats/layer2_block1/bn2/var" in message


def test_weights_of_another_depth_are_refused_with_the_shapes():
  state = parity.state_of(convert.reference_model("torchvision", "resnet18", num_classes=10))
  with pytest.raises(InputError, match="model variables the weights do not provide: batch_stats/layer1_block2"):
    convert.from_torch("torchvision", "resnet34", state, "r18.pth")


def test_a_safetensors_file_converts_like_the_state_dict(tmp_path):
  state = parity.state_of(convert.reference_model("timm", "seresnet50", num_classes=10))
  path = save_state_dict(state, tmp_path / "seresnet50.safetensors")
  loaded = load_state_dict(path)
  assert sorted(loaded) == sorted(state)
  direct = convert.from_torch("timm", "seresnet50", state, "direct").variables
  from_file = convert.from_torch("timm", "seresnet50", loaded, path.name).variables
  se = from_file["params"]["layer1_block0"]["se"]
  assert se["fc1"]["kernel"].shape == (256, 16) and se["fc2"]["bias"].shape == (256,)
  for collection in ("params", "batch_stats"):
    for a, b in zip(_leaves(direct[collection]), _leaves(from_file[collection])):
      assert np.array_equal(a, b)


def _leaves(tree):
  return [leaf for _, value in sorted(tree.items()) for leaf in (_leaves(value) if isinstance(value, dict) else [value])]
