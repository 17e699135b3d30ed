"""MNIST-1D as a tfds dataset, generated offline by the `mnist1d` package's `make_dataset()`.

Greydanus 2020, "Scaling down deep learning": 10 digit templates turned into 1-D signals
by random padding, translation, scaling, shear and noise. The defaults (seed 42) give
4,000 train / 1,000 test signals of length 40; each example is {"signal": float32 [40, 1],
"label": int 0..9}, so 1-D models see [N, L, C] through the ordinary pipeline.
"""

import random

import numpy as np
import tensorflow_datasets as tfds

SIGNAL_LENGTH = 40
NUM_CLASSES = 10


def generate() -> dict[str, np.ndarray]:
  """The published dataset: `mnist1d.data.make_dataset()` with its default arguments.

  make_dataset seeds numpy's and Python's global generators; their states are restored after.
  """
  from mnist1d import data as mnist1d_data  # imported here: generation only happens when preparing
  np_state, py_state = np.random.get_state(), random.getstate()
  try:
    dataset = mnist1d_data.make_dataset(mnist1d_data.get_dataset_args())
  finally:
    np.random.set_state(np_state)
    random.setstate(py_state)
  return dataset


class Mnist1d(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """MNIST-1D (Greydanus 2020), 4,000 train and 1,000 test signals of length 40, made locally.

  Not put in tfds's global registry (no import side effect): cnnjax.data.sources.LOCAL_BUILDERS names it.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "make_dataset() defaults of mnist1d (seed 42)."}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "signal": tfds.features.Tensor(shape=(SIGNAL_LENGTH, 1), dtype=np.float32),
            "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }),
        supervised_keys=("signal", "label"),
        homepage="https://github.com/greydanus/mnist1d",
        citation="Greydanus, S. (2020). Scaling down deep learning. arXiv:2011.14439.",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    data = generate()
    return {"train": self._generate_examples(data["x"], data["y"]),
            "test": self._generate_examples(data["x_test"], data["y_test"])}

  def _generate_examples(self, signals, labels):
    for i, (signal, label) in enumerate(zip(signals, labels)):
      yield i, {"signal": np.asarray(signal, np.float32)[:, None], "label": int(label)}
