"""torchvision AlexNet <-> cnnjax alexnet_torchvision: logits parity, exact round trip, and the key error."""

import pytest

from cnnjax.errors import InputError
from cnnjax.weights import convert
from cnnjax.weights.parity import state_of
from tests.weights import parity

# 127x95 keeps every pool non-trivial (pool3: 3x2, then the adaptive 6x6 pool) and the input non-square;
# torchvision's AlexNet needs at least 63x63.
INPUT = (127, 95, 3)


def test_alexnet_logits_match_torchvision_in_eval_and_train_mode():
  parity.assert_parity("torchvision", "alexnet", INPUT)


def test_alexnet_round_trip_is_exact_and_loads_strict():
  parity.assert_round_trip("torchvision", "alexnet")


def test_unknown_and_missing_keys_are_named_in_one_error():
  state = state_of(convert.reference_model("torchvision", "alexnet", num_classes=10))
  state["features.99.weight"] = state.pop("features.3.bias")
  with pytest.raises(InputError) as error:
    convert.from_torch("torchvision", "alexnet", state, "alexnet.pth")
  message = str(error.value)
  assert "\n" not in message
  assert "keys with no counterpart in the model: features.99.weight" in message
  assert "model variables the weights do not provide: params/conv2/bias" in message
