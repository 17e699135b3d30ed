"""Looking inside a trained classifier: Grad-CAM (Selvaraju et al. 2017) and vanilla gradient saliency
(Simonyan et al. 2014) for one image, and the heat map drawn over it.

Why: which pixels a prediction rests on. Grad-CAM weights the channels of a convolutional stage's output
A (by default the last one the forward pass produces, i.e. the last conv stage) by the spatial mean of
d logit_c / dA and keeps the positive part of their sum: coarse (the stage's resolution) but class-specific.
Saliency is |d logit_c / d image|, the largest over channels: full resolution but noisy. The activation
and its gradient are read with flax's method interception (a zero added to the chosen module's output), so
any linen model works without a features method and without hidden state.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _module_name(context) -> str:
  return "/".join(context.module.path) or "(model)"


def spatial_modules(model: nn.Module, variables, image: jax.Array) -> list[tuple[str, tuple[int, ...]]]:
  """(module path, output shape) of every submodule call whose output is [N, H, W, C] with H, W > 1, in the
  order they return: the candidates for Grad-CAM's layer, the last being the last conv stage."""
  found = []

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if (context.method_name == "__call__" and context.module.path and isinstance(out, jax.Array)
        and out.ndim == 4 and out.shape[1] > 1 and out.shape[2] > 1):
      found.append((_module_name(context), tuple(out.shape)))
    return out

  with nn.intercept_methods(record):
    jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, image)
  return found


def _with_perturbation(model: nn.Module, layer: str) -> Callable:
  """f(variables, image, delta) -> (logits, the layer's output): `delta` added to `layer`'s output, so the
  gradient with respect to delta (at 0) is the gradient with respect to that activation."""

  def apply(variables, image, delta):
    seen = {}

    def add(next_fun, args, kwargs, context):
      out = next_fun(*args, **kwargs)
      if context.method_name == "__call__" and _module_name(context) == layer and "out" not in seen:
        seen["out"] = out
        return out + delta.astype(out.dtype)
      return out

    with nn.intercept_methods(add):
      logits = model.apply(variables, image, train=False)
    return logits.astype(jnp.float32), seen["out"]

  return apply


def grad_cam(model: nn.Module, variables, image: jax.Array, class_index: int | None = None,
             layer: str | None = None) -> tuple[np.ndarray, int, str]:
  """Grad-CAM of one normalised image [H, W, C] for `class_index` (default: the predicted class) at `layer`
  (a module path from spatial_modules; default the last). -> (heat [H, W] >= 0, bilinearly upsampled from
  the layer's resolution, the class, the layer)."""
  x = jnp.asarray(image, jnp.float32)[None]
  candidates = spatial_modules(model, variables, x)
  if not candidates:
    raise ValueError("the model has no module with a spatial [N, H, W, C] output larger than 1x1")
  names = dict(candidates)
  layer = layer or candidates[-1][0]
  if layer not in names:
    raise KeyError(layer)
  apply = _with_perturbation(model, layer)
  zero = jnp.zeros(names[layer], jnp.float32)
  logits, activation = jax.jit(apply)(variables, x, zero)
  c = int(jnp.argmax(logits[0])) if class_index is None else int(class_index)
  grads = jax.jit(jax.grad(lambda d: apply(variables, x, d)[0][0, c]))(zero)[0]  # [h, w, C]
  weights = grads.mean(axis=(0, 1))  # alpha_k: the global-average-pooled gradient of each channel
  cam = nn.relu(jnp.einsum("hwk,k->hw", activation[0].astype(jnp.float32), weights))
  heat = jax.image.resize(cam, image.shape[:2], "linear")
  return np.maximum(np.asarray(heat), 0.0), c, layer


def saliency(model: nn.Module, variables, image: jax.Array, class_index: int | None = None) -> tuple[np.ndarray, int]:
  """max over channels of |d logit_c / d image| for one normalised image [H, W, C] -> ([H, W], class)."""
  x = jnp.asarray(image, jnp.float32)
  logit = lambda x: model.apply(variables, x[None], train=False)[0].astype(jnp.float32)
  c = int(jnp.argmax(jax.jit(logit)(x))) if class_index is None else int(class_index)
  grads = jax.jit(jax.grad(lambda x: logit(x)[c]))(x)
  return np.asarray(jnp.abs(grads).max(axis=-1)), c


# --method -> (model, variables, normalised image [H, W, C], class or None) -> (heat [H, W], class)
METHODS: dict[str, Callable] = {
    "gradcam": lambda model, variables, image, c: grad_cam(model, variables, image, c)[:2],
    "saliency": saliency,
}


def heat_overlay(pixels: np.ndarray, heat: np.ndarray, alpha: float = 0.5, min_side: int = 224) -> np.ndarray:
  """[image | heat map over the image] side by side, uint8 RGB, enlarged to at least `min_side` pixels high
  (image by nearest neighbours, heat bilinearly); the heat is scaled to [0, 1] by its maximum (jet colours)."""
  from matplotlib import colormaps
  from PIL import Image
  rgb = np.repeat(pixels, 3, -1) if pixels.shape[-1] == 1 else pixels[..., :3]
  h, w = rgb.shape[:2]
  scale = max(1, int(np.ceil(min_side / h)))
  size = (w * scale, h * scale)
  big = np.asarray(Image.fromarray(rgb.astype(np.uint8)).resize(size, Image.Resampling.NEAREST), np.float32)
  heat = np.asarray(heat, np.float32)
  heat = heat / heat.max() if heat.max() > 0 else heat
  heat = np.asarray(Image.fromarray(heat, "F").resize(size, Image.Resampling.BILINEAR), np.float32).clip(0, 1)
  coloured = colormaps["jet"](heat)[..., :3] * 255
  blend = (1 - alpha) * big + alpha * coloured
  gap = np.full((size[1], max(2, scale), 3), 255, np.float32)
  return np.concatenate([big, gap, blend], axis=1).round().clip(0, 255).astype(np.uint8)
