"""R-CNN (Girshick et al., CVPR 2014): region proposals, each warped to a fixed size and classified by a CNN.

Why: the lecture's road from regions to objects. Selective-search proposals (cnnjax.segmentation) arrive
with the images; every proposal, widened by `context` of its size on each side as the paper's 16 pixels
of context at 227 are, is warped (anisotropically, bilinear) to crop_size x crop_size and fed to a zoo
classifier whose last layer has K + 1 + 4K outputs: scores for background and the K classes, and
class-specific box deltas (the paper's bounding-box regression, cnnjax.boxes.encode's parametrisation).
Differences from the paper, chosen for one jitted network: the softmax replaces the per-class SVMs
(the paper's own fine-tuned softmax was 3.3 mAP points behind them), and the box regression is learnt
with the classifier instead of a ridge regression on pool5 features.
Inputs: images [N, H, W, C], proposals [N, P, 4] as [x0, y0, x1, y1] pixels (zero boxes are padding).
Outputs (float32): class_logits [N, P, K + 1] (0 is background), box_deltas [N, P, K, 4], proposals.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.models import lenet


def _bilinear_weights(start: jax.Array, extent: jax.Array, size: int, length: int) -> jax.Array:
  """[size, length] weights that sample `size` points evenly over [start, start + extent) of a 1-D signal.

  Point i sits at start + (i + 0.5) * extent / size in pixel coordinates (pixel j covers [j, j + 1)), and
  takes the linear interpolation of its two nearest pixel centres; samples outside the signal read zeros.
  """
  centres = start + (jnp.arange(size) + 0.5) * extent / size - 0.5
  return jnp.maximum(0.0, 1.0 - jnp.abs(centres[:, None] - jnp.arange(length)[None, :]))


def warp_boxes(image: jax.Array, boxes: jax.Array, size: int) -> jax.Array:
  """Crops of `image` [H, W, C] inside `boxes` [P, 4] (x0, y0, x1, y1), each resized to [size, size, C].

  Separable bilinear interpolation as two small matrix products per box, so it is exact, differentiable
  and cheap for the small crops R-CNN classifies.
  """
  height, width = image.shape[0], image.shape[1]

  def one(box):
    rows = _bilinear_weights(box[1], box[3] - box[1], size, height)
    cols = _bilinear_weights(box[0], box[2] - box[0], size, width)
    return jnp.einsum("sh,hwc,tw->stc", rows, image, cols)

  return jax.vmap(one)(boxes.astype(jnp.float32)).astype(image.dtype)


def widen(boxes: jax.Array, context: float) -> jax.Array:
  """Boxes grown by `context` of their width and height on each side (the paper's context padding)."""
  w = boxes[..., 2] - boxes[..., 0]
  h = boxes[..., 3] - boxes[..., 1]
  pad = jnp.stack([-w, -h, w, h], -1) * context
  return boxes + pad


class RCNN(nn.Module):
  """Warped proposals through `classifier` (built with num_classes = K + 1 + 4K); see the module docstring."""

  classifier: nn.Module
  num_classes: int  # K object classes; background is added
  crop_size: int = 32
  context: float = 16 / 227  # the paper's 16 pixels of context around a 227-pixel warp
  dtype: Any = jnp.float32  # of the crops; the classifier computes in its own

  @nn.compact
  def __call__(self, images, proposals=None, train: bool = False):
    """Without proposals the whole image is the one region (what `cnnjax summary` shows)."""
    if proposals is None:
      whole = jnp.asarray([0.0, 0.0, images.shape[2], images.shape[1]], jnp.float32)
      proposals = jnp.broadcast_to(whole, (images.shape[0], 1, 4))
    n, p = proposals.shape[:2]
    k = self.num_classes
    regions = widen(proposals.astype(jnp.float32), self.context)
    crops = jax.vmap(lambda image, boxes: warp_boxes(image, boxes, self.crop_size))(images, regions)
    outputs = self.classifier(crops.reshape((n * p, *crops.shape[2:])).astype(self.dtype), train=train).astype(jnp.float32)
    if outputs.shape[-1] != k + 1 + 4 * k:
      raise ValueError(f"RCNN's classifier gives {outputs.shape[-1]} outputs; build it with num_classes = "
                       f"{k + 1 + 4 * k} (K + 1 scores and 4K box deltas for K = {k})")
    outputs = outputs.reshape((n, p, -1))
    return {"class_logits": outputs[..., :k + 1], "box_deltas": outputs[..., k + 1:].reshape((n, p, k, 4)),
            "proposals": proposals.astype(jnp.float32)}


def rcnn_outputs(num_classes: int) -> int:
  """How many outputs R-CNN's classifier needs for `num_classes` object classes."""
  return num_classes + 1 + 4 * num_classes


def rcnn_lenet5(num_classes: int = 10, dtype: Any = jnp.float32, **kwargs) -> RCNN:
  """R-CNN with LeNet-5 classifying 32x32 warps: small enough to classify hundreds of regions per image on a CPU."""
  return RCNN(classifier=lenet.lenet5(num_classes=rcnn_outputs(num_classes), dtype=dtype), num_classes=num_classes,
              dtype=dtype, **kwargs)
