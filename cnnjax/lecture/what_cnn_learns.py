"""What a CNN learns: LeNet-5's first-layer filters and its activation maps on one Fashion-MNIST image.

Why: the lecture shows trained first-layer filters as edge/blob detectors and the feature
maps after the non-linearity and after max pooling. Same ops as cnnjax's LeNet: conv1 ->
ReLU -> 2x2 max pool.
"""

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from cnnjax.layers import activation
from cnnjax.models import lenet
from cnnjax.lecture import plotting, training


def first_layer_maps(params: dict, image: np.ndarray) -> dict[str, np.ndarray]:
  """conv1 output, after ReLU and after 2x2 max pooling for one image [28, 28, 1] -> each [H, W, 6]."""
  model = lenet.lenet5()
  _, state = model.apply({"params": params}, jnp.asarray(image)[None], capture_intermediates=True,
                         mutable=["intermediates"])
  conv = state["intermediates"]["conv1"]["__call__"][0]
  relu = activation(model.activation, "lenet")(conv)
  pooled = lenet.POOLS[model.pool](relu, 2, 2)
  return {"conv1": np.asarray(conv[0]), "relu": np.asarray(relu[0]), "max_pool": np.asarray(pooled[0])}


def run(out: Path, workdir: Path, epochs: float = 2.0) -> plotting.Section:
  config = training.small_config("lenet5", epochs=epochs, learning_rate=0.05)
  trained = training.train(config, workdir / "lenet5")
  kernel = np.asarray(trained.params["conv1"]["kernel"])  # [5, 5, 1, 6]
  images, labels = training.test_images(1)
  maps = first_layer_maps(trained.params, images[0])
  accuracy = trained.results["final"]["test_accuracy"]

  fig = plotting.new_figure(9, 1.9)
  plotting.image_grid(fig, kernel[:, :, 0, :].transpose(2, 0, 1), [f"filter {i}" for i in range(kernel.shape[-1])],
                      cols=kernel.shape[-1], cmap="RdBu_r", symmetric=True)
  filters = plotting.save(fig, out, "lenet5_conv1_filters.png")

  fig = plotting.new_figure(10, 3.6)
  axes = fig.subplots(2, 7)
  for ax in axes.ravel():
    ax.set_axis_off()
  axes[0, 0].imshow(images[0, :, :, 0], cmap="gray")
  axes[0, 0].set_title(training.CLASS_NAMES[int(labels[0])], fontsize=8)
  for i in range(6):
    axes[0, i + 1].imshow(maps["relu"][:, :, i], cmap="gray")
    axes[0, i + 1].set_title(f"ReLU map {i} {maps['relu'].shape[0]}x{maps['relu'].shape[1]}", fontsize=7)
    axes[1, i + 1].imshow(maps["max_pool"][:, :, i], cmap="gray")
    axes[1, i + 1].set_title(f"max-pooled {maps['max_pool'].shape[0]}x{maps['max_pool'].shape[1]}", fontsize=7)
  activations = plotting.save(fig, out, "lenet5_activation_maps.png")

  section = plotting.Section("6. What a CNN learns")
  section.figures = [
      (filters, f"the six 5x5 first-layer filters of LeNet-5 trained {epochs:g} epochs on Fashion-MNIST "
                f"(test accuracy {accuracy:.3f}): oriented edge and blob detectors"),
      (activations, "a Fashion-MNIST test image and its six first-layer activation maps after ReLU (top, 28x28) "
                    "and after 2x2 max pooling (bottom, 14x14)"),
  ]
  section.numbers = {"epochs": epochs, "test_accuracy": accuracy,
                     "relu_map_shape": list(maps["relu"].shape), "pooled_map_shape": list(maps["max_pool"].shape)}
  return section
