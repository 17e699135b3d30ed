"""torchvision VGG-11/13/16/19 (with and without BN) <-> cnnjax: logits in eval and train mode, exact round trip.

64x96 inputs: pool5 is 2x3, so torchvision's adaptive 7x7 pool and fc6's C,H,W flattening are both
exercised on a non-square map. Two pairs run by default; the other six are marked slow (each
builds a 133-144M-parameter reference).
"""

import pytest

from tests.weights import parity

DEFAULT = ("vgg11", "vgg16_bn")
SLOW = ("vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg19_bn")
PAIRS = DEFAULT + tuple(pytest.param(n, marks=pytest.mark.slow) for n in SLOW)


@pytest.mark.parametrize("name", PAIRS)
def test_vgg_logits_match_torchvision_in_eval_and_train_mode(name):
  parity.assert_parity("torchvision", name, (64, 96, 3))


@pytest.mark.parametrize("name", PAIRS)
def test_vgg_round_trip_is_exact_and_loads_strict(name):
  parity.assert_round_trip("torchvision", name)
