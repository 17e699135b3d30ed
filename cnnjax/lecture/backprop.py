"""Back-propagation by hand: the circuit f = (x + y) z and a one-hidden-layer network, both checked against jax.grad.

Why: the lecture derives the backward pass with the chain rule; here the hand-written
backward of cnnjax's MLP (sigmoid hidden layer, softmax cross-entropy) must equal autodiff.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.models.mlp import MLP
from cnnjax.lecture import plotting


def circuit(x: float, y: float, z: float) -> dict[str, float]:
  """Forward and backward of f(x, y, z) = (x + y) z through q = x + y, f = q z, by the chain rule."""
  q = x + y
  f = q * z
  df_dq, df_dz = z, q            # multiply gate: each input gets the other input times the upstream gradient
  df_dx, df_dy = df_dq * 1.0, df_dq * 1.0  # add gate: passes the upstream gradient to both inputs
  return {"q": q, "f": f, "df/dq": df_dq, "df/dx": df_dx, "df/dy": df_dy, "df/dz": df_dz}


def circuit_autodiff(x: float, y: float, z: float) -> tuple[float, tuple[float, float, float]]:
  """(f, (df/dx, df/dy, df/dz)) by jax.value_and_grad."""
  f, grads = jax.value_and_grad(lambda a, b, c: (a + b) * c, argnums=(0, 1, 2))(x, y, z)
  return float(f), tuple(float(g) for g in grads)


def one_hidden_layer(hidden: int, num_classes: int) -> MLP:
  return MLP(num_classes=num_classes, hidden_sizes=(hidden,), activation="sigmoid")


def loss(params: dict, model: MLP, inputs: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy of the network's class scores."""
  logits = model.apply({"params": params}, inputs)
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def hand_backward(params: dict, inputs: jax.Array, labels: jax.Array) -> dict:
  """The chain rule written out for h = sigmoid(x W1 + b1), s = h W2 + b2, L = mean CE(softmax(s), t).

  [N, D] inputs, [N] labels -> gradients with the same tree as `params`.
  """
  w1, b1 = params["fc1"]["kernel"], params["fc1"]["bias"]
  w2, b2 = params["head"]["kernel"], params["head"]["bias"]
  x = inputs.reshape((inputs.shape[0], -1))
  h = jax.nn.sigmoid(x @ w1 + b1)
  probabilities = jax.nn.softmax(h @ w2 + b2)
  d_scores = (probabilities - jax.nn.one_hot(labels, w2.shape[1])) / x.shape[0]   # dL/ds
  d_hidden = d_scores @ w2.T                                                       # dL/dh
  d_preact = d_hidden * h * (1.0 - h)                                              # dL/da, sigmoid' = h (1 - h)
  return {"fc1": {"kernel": x.T @ d_preact, "bias": d_preact.sum(0)},
          "head": {"kernel": h.T @ d_scores, "bias": d_scores.sum(0)}}


def gradient_check(seed: int = 0, n: int = 32, dim: int = 5, hidden: int = 8, num_classes: int = 3):
  """(hand-written grads, jax.grad grads) for a random network and batch."""
  k_init, k_x, k_y = jax.random.split(jax.random.key(seed), 3)
  model = one_hidden_layer(hidden, num_classes)
  inputs = jax.random.normal(k_x, (n, dim))
  labels = jax.random.randint(k_y, (n,), 0, num_classes)
  params = model.init(k_init, inputs)["params"]
  return hand_backward(params, inputs, labels), jax.grad(loss)(params, model, inputs, labels)


def _circuit_figure(out: Path, values: dict, x: float, y: float, z: float) -> str:
  fig = plotting.new_figure(7, 3.2)
  ax = fig.subplots()
  ax.set_axis_off()
  ax.set_xlim(0, 10)
  ax.set_ylim(0, 6)
  nodes = {"x": (1, 5), "y": (1, 3), "z": (1, 1), "+": (4.5, 4), "*": (7.5, 2.5), "f": (9.5, 2.5)}
  for name, (px, py) in nodes.items():
    gate = name in "+*"
    ax.text(px, py, name, ha="center", va="center", fontsize=13,
            bbox={"boxstyle": "circle", "fc": "lightyellow" if gate else "white", "ec": "black"})
  edges = [("x", "+", x, values["df/dx"]), ("y", "+", y, values["df/dy"]),
           ("+", "*", values["q"], values["df/dq"]), ("z", "*", z, values["df/dz"]), ("*", "f", values["f"], 1.0)]
  for a, b, forward, backward in edges:
    (xa, ya), (xb, yb) = nodes[a], nodes[b]
    ax.annotate("", (xb - 0.35, yb), (xa + 0.35, ya), arrowprops={"arrowstyle": "->"})
    mx, my = xa + 0.35 * (xb - xa), ya + 0.35 * (yb - ya)
    ax.text(mx, my + 0.3, f"{forward:g}", color="green", ha="center", fontsize=11)
    ax.text(mx, my - 0.45, f"{backward:g}", color="red", ha="center", fontsize=11)
  ax.set_title("f = (x + y) z: forward values (green), gradients df/d. (red)", fontsize=10)
  return plotting.save(fig, out, "backprop_circuit.png")


def _check_figure(out: Path, hand: dict, auto: dict) -> str:
  fig = plotting.new_figure(9, 2.6)
  axes = fig.subplots(1, 4)
  names = [("fc1", "kernel"), ("fc1", "bias"), ("head", "kernel"), ("head", "bias")]
  for ax, (layer, leaf) in zip(axes, names):
    a, b = np.ravel(auto[layer][leaf]), np.ravel(hand[layer][leaf])
    ax.scatter(a, b, s=8)
    lim = float(max(np.abs(a).max(), 1e-6))
    ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.8)
    ax.set_title(f"{layer}/{leaf}: max |diff| {np.abs(a - b).max():.1e}", fontsize=8)
    ax.set_xlabel("jax.grad", fontsize=8)
    ax.set_ylabel("hand-written", fontsize=8)
    ax.tick_params(labelsize=6)
  return plotting.save(fig, out, "backprop_gradient_check.png")


def run(out: Path) -> plotting.Section:
  x, y, z = -2.0, 5.0, -4.0
  values = circuit(x, y, z)
  f_auto, grads_auto = circuit_autodiff(x, y, z)
  hand, auto = gradient_check()
  diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(auto)))
  section = plotting.Section("4. Back-propagation")
  section.figures = [
      (_circuit_figure(out, values, x, y, z),
       "the circuit f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4: f = -12, df/dx = df/dy = z = -4, df/dz = x + y = 3"),
      (_check_figure(out, hand, auto),
       "one-hidden-layer sigmoid network (cnnjax MLP, 5-8-3, softmax cross-entropy): every entry of the "
       "hand-written backward pass against jax.grad"),
  ]
  section.numbers = {
      "circuit_inputs": {"x": x, "y": y, "z": z},
      "circuit_hand": values,
      "circuit_jax_grad": {"f": f_auto, "df/dx": grads_auto[0], "df/dy": grads_auto[1], "df/dz": grads_auto[2]},
      "network_max_abs_gradient_difference": diff,
  }
  return section
