"""torchvision DenseNet-121/169/201 <-> cnnjax: logits in eval and train mode, round trip, old key names.

67x93 inputs: odd sizes through the stem's padded max pool and the transitions' 2x2 average pools
(floor), ending at a non-square 2x2 map. DenseNet-169 and -201 are marked slow.
"""

import numpy as np
import pytest

from cnnjax.weights import convert
from cnnjax.weights.parity import state_of
from tests.weights import parity

INPUT = (67, 93, 3)


PAIRS = ["densenet121", pytest.param("densenet169", marks=pytest.mark.slow),
         pytest.param("densenet201", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", PAIRS)
def test_densenet_logits_match_torchvision_in_eval_and_train_mode(name):
  parity.assert_parity("torchvision", name, INPUT)


@pytest.mark.parametrize("name", PAIRS)
def test_densenet_round_trip_is_exact_and_loads_strict(name):
  parity.assert_round_trip("torchvision", name)


def test_published_files_old_key_names_are_accepted():
  state = state_of(convert.reference_model("torchvision", "densenet121", num_classes=10))
  old = {key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2.") if "denselayer" in key else key: value
         for key, value in state.items()}
  assert "features.denseblock4.denselayer16.norm.1.running_var" in old
  expected = convert.from_torch("torchvision", "densenet121", state, "densenet121.pth").variables
  converted = convert.from_torch("torchvision", "densenet121", old, "densenet121-a639ec97.pth").variables
  for collection in ("params", "batch_stats"):
    for name in ("norm1", "conv2"):
      for leaf, value in expected[collection]["block4_layer16"].get(name, {}).items():
        np.testing.assert_array_equal(converted[collection]["block4_layer16"][name][leaf], value)
  assert set(convert.to_torch("torchvision", "densenet121", converted)) == set(state)  # exported with today's names
