"""What the layers learn: a ResNet-20 trained briefly on Fashion-MNIST, looked at layer by layer.

Why: the lecture shows first-layer filters, then for deeper units the image patches that excite
them most and images synthesised by gradient ascent. Here: conv1's 3x3 filters; for the ends of
stages 1-3, each channel's top-activating training patches (the patch is the region where the
unit's gradient with respect to the input is non-zero, i.e. its effective receptive field);
and gradient ascent on the input to maximise a channel's mean activation.
"""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.lecture import plotting, training
from cnnjax.models import resnet

LAYERS = ("layer1", "layer2", "layer3")
MODEL_KWARGS = {"stem_stride": 1}


def model() -> resnet.ResNet:
  return resnet.cifar_resnet20(**MODEL_KWARGS)


def feature_maps(variables: dict, images: jax.Array, layer: str) -> jax.Array:
  """[N, 28, 28, 1] images -> the eval-mode output of `layer` (stem, layer1..3) [N, H, W, C]."""
  return model().apply(variables, images, method=resnet.ResNet.features)[layer]


def top_activations(variables: dict, images: np.ndarray, layer: str, channels, k: int, batch: int = 500):
  """For each channel: the k (image, y, x, value) with the highest activation, at most one per image."""
  maps = np.concatenate([np.asarray(jax.jit(feature_maps, static_argnums=2)(variables, images[i:i + batch], layer))
                         for i in range(0, len(images), batch)])
  found = {}
  for c in channels:
    per_image = maps[..., c].reshape(len(maps), -1)
    best = per_image.argmax(1)
    order = np.argsort(-per_image[np.arange(len(maps)), best])[:k]
    found[int(c)] = [(int(n), *map(int, np.unravel_index(best[n], maps.shape[1:3])), float(per_image[n, best[n]]))
                     for n in order]
  return found


@functools.partial(jax.jit, static_argnums=2)
def unit_input_gradient(variables: dict, image: jax.Array, layer: str, y, x, c) -> jax.Array:
  """d(activation of `layer` at (y, x, c)) / d(image) for one image [28, 28, 1]."""
  return jax.grad(lambda im: feature_maps(variables, im[None], layer)[0, y, x, c])(image)


def receptive_patch(variables: dict, image: np.ndarray, layer: str, y: int, x: int, c: int):
  """The image region where the unit's input gradient is non-zero: (patch [h, w], (top, left, bottom, right))."""
  grad = np.abs(np.asarray(unit_input_gradient(variables, jnp.asarray(image), layer, y, x, c)))[..., 0]
  rows, cols = np.nonzero(grad > 0)
  if len(rows) == 0:  # a dead unit: its own position only
    return image[y:y + 1, x:x + 1, 0], (y, x, y + 1, x + 1)
  box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
  return image[box[0]:box[2], box[1]:box[3], 0], box


def gradient_ascent(variables: dict, layer: str, channels, steps: int = 100, step_size: float = 0.05,
                    decay: float = 1e-3, seed: int = 0, noise: float = 0.3, bounds=(-0.81, 2.02)):
  """Images [C, 28, 28, 1] maximising each channel's mean activation minus decay * ||x||^2, from Gaussian noise.

  The noise (std `noise`) must be strong enough to switch a channel on somewhere: a channel that is 0
  everywhere (after its ReLU) at the start has no gradient and stays 0.
  Normalised-gradient steps, clipped to the normalised pixel range (`bounds`: (0 - 0.286)/0.353 and
  (1 - 0.286)/0.353). Returns (images, mean activation at the start, at the end) per channel.
  """
  channels = jnp.asarray(channels)

  def score(image, c):
    return feature_maps(variables, image[None], layer)[0, ..., c].mean()

  def ascend(c, image):
    def step(image, _):
      g = jax.grad(lambda im: score(im, c) - decay * jnp.sum(im ** 2))(image)
      image = jnp.clip(image + step_size * g / (jnp.std(g) + 1e-8), *bounds)
      return image, None
    return jax.lax.scan(step, image, None, length=steps)[0]

  start = noise * jax.random.normal(jax.random.key(seed), (len(channels), 28, 28, 1))
  images = jax.jit(jax.vmap(ascend))(channels, start)
  before = jax.vmap(score)(start, channels)
  after = jax.vmap(score)(images, channels)
  return np.asarray(images), np.asarray(before), np.asarray(after)


def _filters_figure(out: Path, kernel: np.ndarray) -> str:
  fig = plotting.new_figure(10, 1.6)
  filters = kernel[:, :, 0, :].transpose(2, 0, 1)
  plotting.image_grid(fig, filters, [f"{i}" for i in range(len(filters))], cols=len(filters), cmap="RdBu_r",
                      symmetric=True)
  return plotting.save(fig, out, "resnet20_conv1_filters.png")


def _patches_figure(out: Path, patches: dict) -> str:
  rows = [(layer, c, items) for layer, per in patches.items() for c, items in per.items()]
  k = len(rows[0][2])
  fig = plotting.new_figure(1.2 * k + 1, 1.1 * len(rows))
  axes = np.atleast_2d(fig.subplots(len(rows), k))
  for row, (layer, c, items) in zip(axes, rows):
    for ax, (patch, box) in zip(row, items):
      ax.imshow(patch, cmap="gray")
      ax.set_xticks([])
      ax.set_yticks([])
    row[0].set_ylabel(f"{layer} ch {c}", fontsize=7)
    row[0].set_title(f"{items[0][1][2] - items[0][1][0]}x{items[0][1][3] - items[0][1][1]}", fontsize=6)
  return plotting.save(fig, out, "resnet20_top_patches.png")


def _ascent_figure(out: Path, ascents: dict) -> str:
  cols = max(len(v[0]) for v in ascents.values())
  fig = plotting.new_figure(1.3 * cols, 1.4 * len(ascents))
  axes = np.atleast_2d(fig.subplots(len(ascents), cols))
  for row, (layer, (images, channels, _, after)) in zip(axes, ascents.items()):
    for ax, image, c, a in zip(row, images, channels, after):
      ax.imshow(image[..., 0], cmap="gray")
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_title(f"ch {c}: {a:.2f}", fontsize=6)
    row[0].set_ylabel(layer, fontsize=8)
  return plotting.save(fig, out, "resnet20_gradient_ascent.png")


def run(out: Path, workdir: Path, train_images: int = 10_000, epochs: float = 2.0, channels=(0, 1, 2, 3, 4, 5),
        k: int = 6, probe_images: int = 2000, ascent_steps: int = 100, noise: float = 0.3) -> plotting.Section:
  config = training.small_config("cifar_resnet20", epochs=epochs, learning_rate=0.1, model_kwargs=MODEL_KWARGS,
                                 train_split=f"train[:{train_images}]", eval_every_epochs=epochs)
  trained = training.train(config, workdir / "resnet20_layers")
  variables = {"params": trained.params, "batch_stats": trained.batch_stats}
  images, _ = training.train_images(probe_images)
  kernel = np.asarray(trained.params["conv1"]["kernel"])
  patches, sizes, tops = {}, {}, {}
  for layer in LAYERS:
    found = top_activations(variables, images, layer, channels, k)
    patches[layer] = {c: [receptive_patch(variables, images[n], layer, y, x, c) for n, y, x, _ in items]
                      for c, items in found.items()}
    sizes[layer] = sorted({max(b[2] - b[0], b[3] - b[1]) for per in patches[layer].values() for _, b in per})
    tops[layer] = {str(c): round(items[0][3], 4) for c, items in found.items()}
  ascents = {}
  for layer in LAYERS:
    ascended, before, after = gradient_ascent(variables, layer, channels, steps=ascent_steps, noise=noise)
    ascents[layer] = (ascended, list(channels), before, after)
  accuracy = trained.results["final"]["test_accuracy"]
  section = plotting.Section("10. What the layers of a ResNet-20 learn")
  section.figures = [
      (_filters_figure(out, kernel),
       f"the sixteen 3x3 first-layer filters of a ResNet-20 trained {epochs:g} epochs on {train_images} Fashion-MNIST "
       f"images (test accuracy {accuracy:.3f})"),
      (_patches_figure(out, patches),
       f"for channels {list(channels)} at the ends of stages 1-3: the {k} training patches (of {probe_images} images, "
       "one per image) with the highest activation; each patch is the region where the unit's input gradient is "
       "non-zero, so deeper units show larger patches (largest side per stage: "
       + ", ".join(f"{layer} {max(s)}" for layer, s in sizes.items()) + ")"),
      (_ascent_figure(out, ascents),
       f"gradient ascent on the input ({ascent_steps} normalised-gradient steps from Gaussian noise of std {noise:g}, "
       "small L2 penalty) maximising "
       "each channel's mean activation; titles: the activation reached"),
  ]
  section.numbers = {
      "train_images": train_images, "epochs": epochs, "test_accuracy": accuracy, "probe_images": probe_images,
      "conv1_kernel_shape": list(kernel.shape), "ascent_steps": ascent_steps, "ascent_noise_std": noise,
      "patch_sides": sizes, "top_activation": tops,
      "ascent_mean_activation": {layer: {"before": np.round(v[2], 4).tolist(), "after": np.round(v[3], 4).tolist()}
                                 for layer, v in ascents.items()},
  }
  return section
