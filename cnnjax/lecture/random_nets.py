"""Sampling random neural network classifiers: decision boundaries of randomly drawn one-hidden-layer nets.

Why: MacKay (ITILA ch. 44) draws networks from a Gaussian prior over weights to show the
functions a network can represent; larger input-weight scales give more complex boundaries.
The networks are cnnjax MLPs (2 inputs, H tanh hidden units, 1 output) with resampled weights.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.models.mlp import MLP
from cnnjax.lecture import plotting

SIGMA_IN = (1.0, 3.0, 10.0)


def sample_params(rng: jax.Array, model: MLP, sigma_in: float, sigma_bias: float, sigma_out: float) -> dict:
  """Draws weights from N(0, sigma^2): input weights sigma_in, hidden biases sigma_bias, output weights sigma_out.

  The output bias is 0, so every drawn boundary passes through the plotted square.
  """
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 2)))["params"]
  k1, k2, k3 = jax.random.split(rng, 3)
  return {"fc1": {"kernel": sigma_in * jax.random.normal(k1, shapes["fc1"]["kernel"].shape),
                  "bias": sigma_bias * jax.random.normal(k2, shapes["fc1"]["bias"].shape)},
          "head": {"kernel": sigma_out * jax.random.normal(k3, shapes["head"]["kernel"].shape),
                   "bias": jnp.zeros(shapes["head"]["bias"].shape)}}


def sample_outputs(seed: int, count: int, points: jax.Array, hidden: int, sigma_in: float,
                   sigma_bias: float, sigma_out: float) -> jax.Array:
  """Outputs of `count` random networks at `points` [P, 2] -> [count, P]; class 1 where > 0."""
  model = MLP(num_classes=1, hidden_sizes=(hidden,), activation="tanh")

  def one(rng):
    params = sample_params(rng, model, sigma_in, sigma_bias, sigma_out)
    return model.apply({"params": params}, points)[:, 0]

  return jax.vmap(one)(jax.random.split(jax.random.key(seed), count))


def run(out: Path, hidden: int = 20, samples: int = 4) -> plotting.Section:
  z1, z2, points = plotting.grid(-3, 3, 121)
  fig = plotting.new_figure(2.3 * samples, 2.4 * len(SIGMA_IN))
  axes = fig.subplots(len(SIGMA_IN), samples)
  fractions = {}
  for row, sigma_in in enumerate(SIGMA_IN):
    outputs = np.asarray(sample_outputs(row, samples, jnp.asarray(points, jnp.float32), hidden,
                                        sigma_in, sigma_bias=sigma_in, sigma_out=1.0 / np.sqrt(hidden)))
    fractions[str(sigma_in)] = (outputs > 0).mean(axis=1).round(3).tolist()
    for col in range(samples):
      ax = axes[row, col]
      y = outputs[col].reshape(z1.shape)
      ax.contourf(z1, z2, y > 0, levels=(-0.5, 0.5, 1.5), colors=("tab:blue", "tab:orange"), alpha=0.6)
      ax.contour(z1, z2, y, levels=(0.0,), colors="black", linewidths=0.8)
      ax.set_xticks([])
      ax.set_yticks([])
      if col == 0:
        ax.set_ylabel(f"sigma_in = sigma_bias = {sigma_in:g}", fontsize=8)
  section = plotting.Section("3. Sampling random neural network classifiers")
  section.figures = [(plotting.save(fig, out, "random_net_boundaries.png"),
                      f"decision boundaries (output = 0) of 2-{hidden}-1 tanh networks with weights drawn from "
                      "Gaussians; rows: larger input-weight scale sigma_in gives more complex boundaries")]
  section.numbers = {"hidden_units": hidden, "class1_fraction_per_sample": fractions}
  return section
