"""Linear classification: each class's weight vector of a trained linear classifier, shown as a 28x28 image.

Why: the lecture reads y = Wx + b as template matching, "each column of W is an exemplar
of its class"; trained on Fashion-MNIST, the columns look like blurred average garments.
"""

from pathlib import Path

import numpy as np

from cnnjax.lecture import plotting, training


def class_templates(params: dict, image_shape=(28, 28)) -> np.ndarray:
  """The LinearClassifier's kernel [H*W*C, K] as K images [K, H, W]."""
  kernel = np.asarray(params["fc"]["kernel"])
  return kernel.T.reshape((kernel.shape[1], *image_shape))


def run(out: Path, workdir: Path, epochs: float = 2.0, weight_decay: float = 0.02) -> plotting.Section:
  config = training.small_config("linear", epochs=epochs, learning_rate=0.01, weight_decay=weight_decay)
  trained = training.train(config, workdir / "linear")
  templates = class_templates(trained.params)
  fig = plotting.new_figure(8, 3.8)
  plotting.image_grid(fig, templates, training.CLASS_NAMES, cols=5, cmap="RdBu_r", symmetric=True)
  accuracy = trained.results["final"]["test_accuracy"]
  fig.suptitle(f"linear classifier weights per class (test accuracy {accuracy:.3f}); red > 0, blue < 0", fontsize=9)
  section = plotting.Section("1. Linear classification")
  section.figures = [(plotting.save(fig, out, "linear_templates.png"),
                      f"weights of the linear classifier y = Wx + b trained {epochs:g} epochs on Fashion-MNIST (L2 weight decay "
                      f"{weight_decay:g}), one "
                      "28x28 image per class: each column of W is an exemplar (template) of its class")]
  section.numbers = {"epochs": epochs, "weight_decay": weight_decay, "test_accuracy": accuracy,
                     "params": trained.results["final"]["params"]}
  return section
