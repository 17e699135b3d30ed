"""torchvision VGG-11/13/16/19 (with and without BN) <-> cnnjax: logits in eval and train mode, round trip.

64x96 inputs: pool5 is 2x3, so torchvision's adaptive 7x7 pool and fc6's C,H,W flattening are both
exercised on a non-square map. Two pairs run by default; the other six are marked slow (each
builds a 133-144M-parameter reference).
"""

import pytest

from cnnjax.weights.pairs import find_pair
from tests.weights import family_parity

INPUT = (64, 96, 3)
DEFAULT = ("vgg11", "vgg16_bn")
SLOW = ("vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg19_bn")


@pytest.mark.parametrize("name", DEFAULT + tuple(pytest.param(n, marks=pytest.mark.slow) for n in SLOW))
def test_vgg_logits_match_torchvision_in_eval_and_train_mode_and_round_trip(name):
  family_parity.check_pair(find_pair("torchvision", name), INPUT)
