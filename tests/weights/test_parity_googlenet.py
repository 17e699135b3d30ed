"""torchvision GoogLeNet <-> cnnjax googlenet: logits parity (transform_input on), round trip, aux heads, transform."""

import jax.numpy as jnp
import numpy as np

from cnnjax.models.googlenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_to_half_normalised
from cnnjax.weights import convert
from cnnjax.weights.torch_shim import import_torchvision
from cnnjax.weights.parity import state_of
from tests.weights import parity

# Odd sizes exercise the ceil-mode pools (67x95 -> 34x48 -> 17x24 -> 9x12 -> 5x6 -> 3x3).
INPUT = (67, 95, 3)


def test_googlenet_logits_match_torchvision_in_eval_and_train_mode():
  parity.assert_parity("torchvision", "googlenet", INPUT)


def test_googlenet_round_trip_is_exact_and_loads_strict():
  parity.assert_round_trip("torchvision", "googlenet")


def test_transform_input_renormalises_imagenet_inputs_to_half_scale():
  raw = np.random.default_rng(1).uniform(size=(2, 5, 7, 3)).astype(np.float32)
  normalised = (raw - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
  np.testing.assert_allclose(imagenet_to_half_normalised(jnp.asarray(normalised)), (raw - 0.5) / 0.5, atol=1e-5)


def test_auxiliary_heads_of_a_published_file_are_skipped_and_not_exported():
  published = import_torchvision().models.googlenet(weights=None, num_classes=10, aux_logits=True,
                                                    transform_input=True, init_weights=True)
  state = state_of(published)
  assert any(key.startswith("aux1.") for key in state) and any(key.startswith("aux2.") for key in state)
  with_aux = convert.from_torch("torchvision", "googlenet", state, "googlenet.pth").variables
  without = convert.from_torch("torchvision", "googlenet", {k: v for k, v in state.items() if not k.startswith("aux")},
                               "googlenet.pth").variables
  np.testing.assert_array_equal(with_aux["params"]["fc"]["kernel"], without["params"]["fc"]["kernel"])
  exported = convert.to_torch("torchvision", "googlenet", with_aux)
  assert not [key for key in exported if key.startswith("aux")]
