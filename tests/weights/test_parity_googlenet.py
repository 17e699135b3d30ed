"""torchvision GoogLeNet <-> cnnjax googlenet: logits parity (transform_input on), round trip, aux heads, transform."""

import jax.numpy as jnp
import numpy as np

from cnnjax.models.googlenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_to_half_normalised
from cnnjax.weights.mapping import to_torch
from cnnjax.weights.pairs import find_pair
from cnnjax.weights.torch_shim import import_torchvision
from tests.weights import family_parity

# Odd sizes exercise the ceil-mode pools (67x95 -> 34x48 -> 17x24 -> 9x12 -> 5x6 -> 3x3).
INPUT = (67, 95, 3)


def test_googlenet_logits_match_torchvision_in_eval_and_train_mode_and_round_trip():
  family_parity.check_pair(find_pair("torchvision", "googlenet"), INPUT)


def test_transform_input_renormalises_imagenet_inputs_to_half_scale():
  raw = np.random.default_rng(1).uniform(size=(2, 5, 7, 3)).astype(np.float32)
  normalised = (raw - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
  np.testing.assert_allclose(imagenet_to_half_normalised(jnp.asarray(normalised)), (raw - 0.5) / 0.5, atol=1e-5)


def test_auxiliary_heads_of_a_published_file_are_skipped_and_not_exported():
  pair = find_pair("torchvision", "googlenet")
  build = lambda n: import_torchvision().models.googlenet(weights=None, num_classes=n, aux_logits=True,
                                                          transform_input=True, init_weights=True)
  state = family_parity.torch_state(family_parity.reference_model(pair, build=build))
  assert any(key.startswith("aux1.") for key in state) and any(key.startswith("aux2.") for key in state)
  model = family_parity.cnnjax_model(pair)
  with_aux = family_parity.convert(pair, state, model, INPUT)
  without = family_parity.convert(pair, {k: v for k, v in state.items() if not k.startswith("aux")}, model, INPUT)
  np.testing.assert_array_equal(with_aux["params"]["fc"]["kernel"], without["params"]["fc"]["kernel"])
  exported = to_torch(with_aux, pair.entries())
  assert not [key for key in exported if key.startswith("aux")]
