"""Top-K classes of pictures: preprocess, logits, softmax, the K most probable with their names.

Why here and not in the command: tests and notebooks get the same numbers `cnnjax predict` prints.
"""

import numpy as np

from cnnjax.serving.load import Served


def logits(served: Served, inputs: np.ndarray) -> np.ndarray:
  """float32 [N, *input_shape] preprocessed pictures -> float32 logits [N, num_classes]."""
  import jax
  apply = jax.jit(lambda variables, x: served.model.apply(variables, x, train=False))
  return np.asarray(apply(served.variables, np.asarray(inputs, np.float32)), np.float32)


def top_k(logits_: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """(indices [N, k], probabilities [N, k]) of the k largest softmax probabilities, most probable first."""
  import jax
  probabilities = np.asarray(jax.nn.softmax(np.asarray(logits_, np.float32), axis=-1))
  k = min(k, probabilities.shape[-1])
  indices = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
  return indices, np.take_along_axis(probabilities, indices, -1)


def predict_pictures(served: Served, pictures: list[np.ndarray], k: int) -> list[dict]:
  """Per uint8 picture [H, W, C]: {"indices", "names", "probabilities"} of its top k classes."""
  inputs = np.stack([served.preprocess(p) for p in pictures])
  indices, probabilities = top_k(logits(served, inputs), k)
  return [{"indices": [int(i) for i in row], "names": [served.class_name(int(i)) for i in row],
           "probabilities": [float(p) for p in prob]} for row, prob in zip(indices, probabilities)]
