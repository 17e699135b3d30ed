"""torchvision DenseNet-121/169/201 <-> cnnjax: logits in eval and train mode, round trip, old key names.

67x93 inputs: odd sizes through the stem's padded max pool and the transitions' 2x2 average pools
(floor), ending at a non-square 2x2 map. DenseNet-169 and -201 are marked slow.
"""

import numpy as np
import pytest

from cnnjax.weights import convert
from cnnjax.weights.mapping import to_torch
from cnnjax.weights.pairs import find_pair
from tests.weights import family_parity

INPUT = (67, 93, 3)


@pytest.mark.parametrize("name", ["densenet121", pytest.param("densenet169", marks=pytest.mark.slow),
                                  pytest.param("densenet201", marks=pytest.mark.slow)])
def test_densenet_logits_match_torchvision_in_eval_and_train_mode_and_round_trip(name):
  family_parity.check_pair(find_pair("torchvision", name), INPUT)


def test_published_files_old_key_names_are_accepted():
  pair = find_pair("torchvision", "densenet121")
  state = family_parity.torch_state(family_parity.reference_model(pair))
  old = {key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2.") if "denselayer" in key else key: value
         for key, value in state.items()}
  assert "features.denseblock4.denselayer16.norm.1.running_var" in old
  expected = convert.from_torch("torchvision", "densenet121", state, "densenet121.pth").variables
  converted = convert.from_torch("torchvision", "densenet121", old, "densenet121-a639ec97.pth").variables
  for collection in ("params", "batch_stats"):
    for name in ("norm1", "conv2"):
      for leaf, value in expected[collection]["block4_layer16"].get(name, {}).items():
        np.testing.assert_array_equal(converted[collection]["block4_layer16"][name][leaf], value)
  assert set(to_torch(converted, pair.entries())) == set(state)  # exported with today's names
