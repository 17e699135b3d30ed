"""Linear classifier y = Wx + b and the lecture's single logistic neuron."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class LinearClassifier(nn.Module):
  """Multi-class linear classifier: flattens the image and computes class scores Wx + b.

  [N, ...] -> [N, num_classes]. Each column of W is a template ("exemplar") of its class.
  """

  num_classes: int = 10
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = x.reshape((x.shape[0], -1)).astype(self.dtype)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)


class LogisticNeuron(nn.Module):
  """A single neuron x = sigmoid(w.z + b): returns the logit a = w.z + b, [N, D] -> [N].

  Train with sigmoid cross-entropy on the logit; `nn.sigmoid` of the output is the
  neuron's activity, the probability of class 1.
  """

  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = False):
    del train
    z = z.reshape((z.shape[0], -1)).astype(self.dtype)
    return nn.Dense(1, use_bias=self.use_bias, dtype=self.dtype, name="neuron")(z)[:, 0]
