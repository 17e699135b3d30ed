"""A single sigmoid neuron: input-output surfaces, weight space, gradient-descent training, weight decay.

Follows MacKay, "Information Theory, Inference, and Learning Algorithms", ch. 39, in the
lecture's notation: inputs z, activity x(z; w) = 1 / (1 + exp(-w.z)), targets t in {0, 1},
objective G(w) = -sum[t log x + (1 - t) log(1 - x)] with gradient g = -sum (t - x) z, and
weight decay M(w) = G(w) + alpha * 1/2 sum w^2. The forward pass is cnnjax's LogisticNeuron.
"""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.models.linear import LogisticNeuron
from cnnjax.lecture import plotting

SURFACE_WEIGHTS = ((0.0, 2.0), (2.0, 0.0), (1.0, -1.0), (-2.0, 5.0))
ALPHAS = (0.0, 0.01, 0.1, 1.0)


def neuron_params(w: jax.Array) -> dict:
  """w = [w0 (bias), w1, w2, ...] -> LogisticNeuron parameters."""
  return {"params": {"neuron": {"bias": w[:1], "kernel": w[1:, None]}}}


def activity(w: jax.Array, z: jax.Array) -> jax.Array:
  """x(z; w) = sigmoid(w0 + w1 z1 + w2 z2 + ...): [N, D] inputs, [D + 1] weights -> [N]."""
  return jax.nn.sigmoid(LogisticNeuron().apply(neuron_params(w), z))


def objective_g(w: jax.Array, z: jax.Array, t: jax.Array) -> jax.Array:
  """G(w) = -sum[t log x + (1 - t) log(1 - x)], the relative entropy between targets and outputs."""
  logits = LogisticNeuron().apply(neuron_params(w), z)
  return jnp.sum(optax.sigmoid_binary_cross_entropy(logits, t))


def objective_m(w: jax.Array, z: jax.Array, t: jax.Array, alpha: float) -> jax.Array:
  """M(w) = G(w) + alpha E_W(w) with E_W = 1/2 sum_i w_i^2 (bias included, as in MacKay's figure)."""
  return objective_g(w, z, t) + alpha * 0.5 * jnp.sum(w ** 2)


def gradient_g(w: jax.Array, z: jax.Array, t: jax.Array) -> jax.Array:
  """The lecture's hand-written gradient g = -sum_n (t_n - x_n) z_n, with z_0 = 1 for the bias: [D + 1]."""
  x = activity(w, z)
  z_with_bias = jnp.concatenate([jnp.ones((z.shape[0], 1), z.dtype), z], axis=1)
  return -(t - x) @ z_with_bias


def gradient_m(w: jax.Array, z: jax.Array, t: jax.Array, alpha: float) -> jax.Array:
  """Gradient of M: g + alpha w."""
  return gradient_g(w, z, t) + alpha * w


@functools.partial(jax.jit, static_argnames=("steps",))
def train(z: jax.Array, t: jax.Array, alpha: float, eta: float, steps: int) -> tuple[jax.Array, jax.Array]:
  """Batch gradient descent w <- w - eta (g + alpha w) from w = 0 with the hand-written gradient.

  Returns the weight trajectory [steps + 1, D + 1] and M along it [steps + 1].
  """
  w0 = jnp.zeros((z.shape[1] + 1,), z.dtype)

  def step(w, _):
    new = w - eta * gradient_m(w, z, t, alpha)
    return new, (new, objective_m(new, z, t, alpha))

  _, (ws, ms) = jax.lax.scan(step, w0, None, length=steps)
  return (jnp.concatenate([w0[None], ws]), jnp.concatenate([objective_m(w0, z, t, alpha)[None], ms]))


def two_class_data(n_per_class: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """A small separable 2-D two-class set like MacKay's figure 39.4: z [2n, 2], t [2n] in {0, 1}."""
  rng = np.random.default_rng(seed)
  z0 = rng.normal([2.0, 2.5], 1.0, (n_per_class, 2))
  z1 = rng.normal([6.0, 6.5], 1.0, (n_per_class, 2))
  return (np.concatenate([z0, z1]).astype(np.float32),
          np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)]).astype(np.float32))


def held_out_scores(w: jax.Array, z: jax.Array, t: jax.Array) -> dict[str, float]:
  """Mean relative entropy G(w)/N and error rate of the neuron on held-out points."""
  errors = (activity(w, z) > 0.5) != (t > 0.5)
  return {"mean_G": float(objective_g(w, z, t)) / len(t), "error_rate": float(jnp.mean(errors))}


def _surfaces(out: Path) -> str:
  fig = plotting.new_figure(12, 3.4)
  z1, z2, points = plotting.grid(-10, 10, 41)
  for i, (w1, w2) in enumerate(SURFACE_WEIGHTS):
    ax = fig.add_subplot(1, len(SURFACE_WEIGHTS), i + 1, projection="3d")
    x = np.asarray(activity(jnp.array([0.0, w1, w2]), jnp.asarray(points))).reshape(z1.shape)
    ax.plot_surface(z1, z2, x, cmap="viridis", linewidth=0, antialiased=False)
    ax.set_title(f"w = ({w1:g}, {w2:g})", fontsize=9)
    ax.set_xlabel("z1", fontsize=8)
    ax.set_ylabel("z2", fontsize=8)
    ax.set_zlim(0, 1)
    ax.tick_params(labelsize=6)
  return plotting.save(fig, out, "neuron_surfaces.png")


def _weight_space(out: Path) -> str:
  fig = plotting.new_figure(6.5, 6.5)
  ax = fig.subplots()
  ax.set_xlim(-3.5, 6.5)
  ax.set_ylim(-3.5, 6.5)
  ax.axhline(0, color="0.6", lw=0.8)
  ax.axvline(0, color="0.6", lw=0.8)
  ax.set_xlabel("w1")
  ax.set_ylabel("w2")
  ax.set_title("x(z; w) over z in [-3, 3]^2, drawn at its w")
  z1, z2, points = plotting.grid(-3, 3, 25)
  for w1 in (-2.0, 0.0, 2.0, 5.0):
    for w2 in (-2.0, 0.0, 2.0, 5.0):
      x = np.asarray(activity(jnp.array([0.0, w1, w2]), jnp.asarray(points))).reshape(z1.shape)
      inset = ax.inset_axes([w1 - 0.8, w2 - 0.8, 1.6, 1.6], transform=ax.transData)
      inset.imshow(x, origin="lower", cmap="viridis", vmin=0, vmax=1, extent=(-3, 3, -3, 3))
      inset.set_xticks([])
      inset.set_yticks([])
  return plotting.save(fig, out, "neuron_weight_space.png")


def _training(out: Path, z: np.ndarray, t: np.ndarray, runs: dict, held_out: dict) -> str:
  fig = plotting.new_figure(13, 9)
  axes = fig.subplots(3, len(runs))
  g1, g2, points = plotting.grid(-1, 10, 111)
  for col, (alpha, (ws, ms)) in enumerate(runs.items()):
    iterations = np.arange(len(ms))
    for i, name in enumerate(("w0", "w1", "w2")):
      axes[0, col].plot(iterations[1:], ws[1:, i], label=name)
    axes[0, col].set_xscale("log")
    axes[0, col].set_title(f"alpha = {alpha:g}: weights", fontsize=9)
    axes[0, col].legend(fontsize=7)
    axes[1, col].plot(iterations[1:], ms[1:])
    axes[1, col].set_xscale("log")
    axes[1, col].set_yscale("log")
    axes[1, col].set_title("M(w) = G(w) + alpha E_W(w)" if alpha else "G(w)", fontsize=9)
    x = np.asarray(activity(jnp.asarray(ws[-1]), jnp.asarray(points))).reshape(g1.shape)
    contours = axes[2, col].contour(g1, g2, x, levels=(0.12, 0.27, 0.5, 0.73, 0.88), cmap="coolwarm")
    axes[2, col].clabel(contours, fontsize=6)
    axes[2, col].scatter(z[t == 0, 0], z[t == 0, 1], marker="o", c="tab:blue", label="t = 0")
    axes[2, col].scatter(z[t == 1, 0], z[t == 1, 1], marker="s", c="tab:red", label="t = 1")
    axes[2, col].set_title(f"|w| = {np.linalg.norm(ws[-1]):.2f}; held-out G/N = {held_out[alpha]['mean_G']:.3f}, "
                           f"error {held_out[alpha]['error_rate']:.3f}", fontsize=8)
    axes[2, col].set_aspect("equal")
  axes[2, 0].legend(fontsize=7, loc="upper left")
  return plotting.save(fig, out, "neuron_training.png")


def run(out: Path, steps: int = 40_000, eta: float = 0.01) -> plotting.Section:
  """All neuron figures plus the gradient check and the final weights for each weight-decay alpha."""
  z, t = two_class_data()
  zj, tj = jnp.asarray(z), jnp.asarray(t)
  w_check = jnp.array([-1.0, 0.3, 0.2])
  hand = gradient_g(w_check, zj, tj)
  auto = jax.grad(objective_g)(w_check, zj, tj)
  runs = {alpha: tuple(np.asarray(a) for a in train(zj, tj, alpha, eta, steps)) for alpha in ALPHAS}
  z_test, t_test = (jnp.asarray(a) for a in two_class_data(500, seed=1))
  held_out = {alpha: held_out_scores(jnp.asarray(runs[alpha][0][-1]), z_test, t_test) for alpha in ALPHAS}
  section = plotting.Section("2. A single neuron")
  section.figures = [
      (_surfaces(out), "the sigmoid neuron's output x(z1, z2) = 1/(1+exp(-w1 z1 - w2 z2)) for four weight vectors: "
                       "a sigmoid ramp whose direction is w and steepness |w|"),
      (_weight_space(out), "weight space: each small image is the neuron's function of (z1, z2), drawn at its (w1, w2)"),
      (_training(out, z, t, runs, held_out),
       f"gradient descent (eta = {eta}, {steps} steps) on 10 points with the hand-written gradient -sum (t - x) z; "
       "columns: weight decay alpha = 0, 0.01, 0.1, 1. Without decay the weights grow without bound and the "
       "boundary becomes a step; decay keeps them small. Held-out G/N on 1,000 new points from the same "
       "distribution: " + ", ".join(f"alpha {a:g}: {held_out[a]['mean_G']:.3f}" for a in ALPHAS)),
  ]
  section.numbers = {
      "gradient_check_weights": np.asarray(w_check).tolist(),
      "hand_written_gradient": np.asarray(hand).tolist(),
      "jax_grad": np.asarray(auto).tolist(),
      "max_abs_difference": float(jnp.max(jnp.abs(hand - auto))),
      "final_weights_by_alpha": {str(a): runs[a][0][-1].tolist() for a in ALPHAS},
      "final_weight_norm_by_alpha": {str(a): float(np.linalg.norm(runs[a][0][-1])) for a in ALPHAS},
      "final_objective_by_alpha": {str(a): float(runs[a][1][-1]) for a in ALPHAS},
      "held_out_by_alpha": {str(a): held_out[a] for a in ALPHAS},
  }
  return section
