"""The detectors: R-CNN's warp is exact where it can be, and every parameter of both learns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.models import get_model, resnet
from cnnjax.models.centernet import CenterNet
from cnnjax.models.rcnn import rcnn_outputs, warp_boxes, widen


def test_warping_the_whole_image_to_its_own_size_is_the_identity():
  image = jax.random.normal(jax.random.key(0), (12, 9, 2))
  crop = warp_boxes(image, jnp.asarray([[0.0, 0.0, 9.0, 12.0]]), 12)
  # 9 columns sampled at 12 points is a resize; the rows (12 -> 12) are exact. Same size both ways:
  square = jax.random.normal(jax.random.key(1), (10, 10, 3))
  np.testing.assert_allclose(warp_boxes(square, jnp.asarray([[0.0, 0.0, 10.0, 10.0]]), 10)[0], square, atol=1e-6)
  assert crop.shape == (1, 12, 12, 2)


def test_a_pixel_aligned_box_at_its_own_size_is_the_sub_image():
  image = jax.random.normal(jax.random.key(0), (16, 16, 1))
  crop = warp_boxes(image, jnp.asarray([[3.0, 5.0, 11.0, 13.0]]), 8)[0]
  np.testing.assert_allclose(crop, image[5:13, 3:11], atol=1e-6)


def test_halving_a_box_averages_pixel_pairs_and_outside_reads_zero():
  image = jnp.arange(16.0).reshape(1, 16, 1) * jnp.ones((4, 1, 1))  # 4 rows of 0..15
  crop = warp_boxes(image, jnp.asarray([[0.0, 0.0, 16.0, 4.0]]), 8)[0]  # 8 columns from 16: centres at 0.5, 2.5, ...
  # bilinear at half-pixel positions between columns 2i and 2i+1; rows 4 -> 8 upsample, interior exact
  np.testing.assert_allclose(crop[2, :, 0], np.arange(8) * 2 + 0.5, atol=1e-5)
  outside = warp_boxes(image, jnp.asarray([[20.0, 0.0, 30.0, 4.0]]), 4)[0]
  assert float(jnp.abs(outside).max()) == 0.0


def test_context_widens_each_side_by_a_fraction():
  np.testing.assert_allclose(widen(jnp.asarray([[10.0, 20.0, 30.0, 60.0]]), 0.1), [[8.0, 16.0, 32.0, 64.0]])


def _every_parameter_learns(model, args, select):
  variables = jax.jit(model.init)(jax.random.key(0), *args)

  def loss(params):
    out, _ = model.apply({**variables, "params": params}, *args, train=True, mutable=["batch_stats"])
    leaves = select(out)
    return sum(jnp.sum(x * jax.random.normal(jax.random.key(i), x.shape)) for i, x in enumerate(leaves))

  grads = jax.jit(jax.grad(loss))(variables["params"])
  dead = [jax.tree_util.keystr(p) for p, g in jax.tree_util.tree_leaves_with_path(grads)
          if not np.any(np.asarray(g) != 0) or not np.all(np.isfinite(g))]
  assert not dead
  return variables


def test_centernet_heads_and_backbone_all_learn():
  """On ResNet-8 (the CIFAR form's one block per stage: the registered ResNet-20's code, compiled faster)."""
  model = CenterNet(backbone=resnet.cifar_resnet(8, num_classes=1), num_classes=10)
  assert get_model("centernet_resnet20").backbone.stage_sizes == (3, 3, 3)
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 1))
  variables = _every_parameter_learns(model, (x,), lambda out: [out["heatmap"], out["size"], out["offset"]])
  out = jax.jit(model.apply)(variables, x)
  assert out["heatmap"].shape == (2, 8, 8, 10) and out["size"].shape == out["offset"].shape == (2, 8, 8, 2)
  # the heat map starts at the prior 0.1 everywhere (bias -log 9, small weights)
  assert abs(float(jax.nn.sigmoid(out["heatmap"]).mean()) - 0.1) < 0.05


def test_centernet_refuses_an_input_off_its_stride():
  model = get_model("centernet_resnet20", num_classes=3, stride=8)
  with pytest.raises(ValueError, match="stride=8"):
    jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 1)))


def test_rcnn_classifies_every_proposal_and_all_of_it_learns():
  model = get_model("rcnn_lenet5", num_classes=10)
  images = jax.random.normal(jax.random.key(1), (2, 64, 64, 1))
  proposals = jnp.asarray([[[0, 0, 30, 30], [10, 10, 50, 40], [0, 0, 0, 0]]] * 2, jnp.float32)
  _every_parameter_learns(model, (images, proposals), lambda out: [out["class_logits"], out["box_deltas"]])
  variables = jax.jit(model.init)(jax.random.key(0), images, proposals)
  out = jax.jit(model.apply)(variables, images, proposals)
  assert out["class_logits"].shape == (2, 3, 11) and out["box_deltas"].shape == (2, 3, 10, 4)
  assert rcnn_outputs(10) == 51
  # its classifier is LeNet-5 with a 51-way head: 61,706 - 84*10 - 10 + 84*51 + 51
  params = sum(np.size(p) for p in jax.tree.leaves(variables["params"]))
  assert params == 61_706 - 850 + 84 * 51 + 51


# Every registered detector, its own input (registry.INPUTS) and the outputs it must give there.
DETECTORS = {
    "centernet_resnet20": {"heatmap": (1, 16, 16, 10), "size": (1, 16, 16, 2), "offset": (1, 16, 16, 2)},
    "centernet_resnet20_s8": {"heatmap": (1, 8, 8, 10), "size": (1, 8, 8, 2), "offset": (1, 8, 8, 2)},
    "rcnn_lenet5": {"class_logits": (1, 1, 11), "box_deltas": (1, 1, 10, 4), "proposals": (1, 1, 4)},
}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_gives_its_outputs_at_its_input(name):
  from cnnjax.models import INPUTS
  model = get_model(name, num_classes=10)
  x = jnp.zeros((1, *INPUTS[name].shape))
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  out = jax.eval_shape(model.apply, variables, x)
  assert {k: v.shape for k, v in out.items()} == DETECTORS[name]
