"""torchvision AlexNet <-> cnnjax alexnet_torchvision: logits parity, round trip, and the key error."""

import pytest

from cnnjax.errors import InputError
from cnnjax.weights.pairs import find_pair
from tests.weights import family_parity

# 127x95 keeps every pool non-trivial (pool3: 3x2, then the adaptive 6x6 pool) and the input non-square;
# torchvision's AlexNet needs at least 63x63.
INPUT = (127, 95, 3)


def test_alexnet_logits_match_torchvision_in_eval_and_train_mode_and_round_trip():
  family_parity.check_pair(find_pair("torchvision", "alexnet"), INPUT)


def test_unknown_and_missing_keys_are_named_in_one_error():
  pair = find_pair("torchvision", "alexnet")
  state = family_parity.torch_state(family_parity.reference_model(pair))
  state["features.99.weight"] = state.pop("features.3.bias")
  model = family_parity.cnnjax_model(pair)
  with pytest.raises(InputError) as error:
    family_parity.convert(pair, state, model, INPUT)
  message = str(error.value)
  assert "\n" not in message
  assert "keys with no counterpart in the model: features.99.weight" in message
  assert "model variables the weights do not provide: params/conv2/bias" in message
