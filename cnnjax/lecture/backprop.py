"""Back-propagation by hand: f = x y, the circuit f = (x + y) z and the lecture's network, all checked against jax.grad.

Why: the lecture derives the backward pass with the chain rule for sigmoid outputs and the error
E = 1/2 sum (y - t)^2 (or cross-entropy) plus lambda/2 ||w||^2; the hand-derived backward of
cnnjax's MLP with those outputs and errors must equal autodiff.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

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


def multiply(x: float, y: float) -> dict[str, float]:
  """The lecture's first example f = x y by hand: df/dx = y, df/dy = x (each input gets the other one)."""
  return {"f": x * y, "df/dx": y, "df/dy": x}


def multiply_autodiff(x: float, y: float) -> tuple[float, tuple[float, float]]:
  """(f, (df/dx, df/dy)) of f = x y by jax.value_and_grad."""
  f, grads = jax.value_and_grad(lambda a, b: a * b, argnums=(0, 1))(x, y)
  return float(f), tuple(float(g) for g in grads)


def one_hidden_layer(hidden: int, outputs: int) -> MLP:
  """cnnjax's MLP with a sigmoid hidden layer; its `outputs` scores go through a sigmoid in `network_outputs`."""
  return MLP(num_classes=outputs, hidden_sizes=(hidden,), activation="sigmoid")


def network_outputs(params: dict, model: MLP, inputs: jax.Array) -> jax.Array:
  """y = sigmoid(s): the lecture's sigmoid output units, [N, D] -> [N, K] in (0, 1)."""
  return jax.nn.sigmoid(model.apply({"params": params}, inputs))


def squared_error(y: jax.Array, t: jax.Array) -> jax.Array:
  """E = 1/2 sum_n sum_k (y - t)^2."""
  return 0.5 * jnp.sum((y - t) ** 2)


def cross_entropy(y: jax.Array, t: jax.Array) -> jax.Array:
  """E = -sum_n sum_k [t ln y + (1 - t) ln(1 - y)] for independent sigmoid outputs."""
  return -jnp.sum(t * jnp.log(y) + (1.0 - t) * jnp.log(1.0 - y))


ERRORS = {"squared": squared_error, "cross_entropy": cross_entropy}
# dE/da at the output pre-activation a (y = sigmoid(a)), by hand: the sigmoid's y (1 - y) cancels for cross-entropy.
OUTPUT_DELTAS = {"squared": lambda y, t: (y - t) * y * (1.0 - y), "cross_entropy": lambda y, t: y - t}


def weight_decay(params: dict) -> jax.Array:
  """1/2 ||w||^2 over the weight matrices (the kernels; biases are not decayed)."""
  return 0.5 * sum(jnp.sum(params[layer]["kernel"] ** 2) for layer in ("fc1", "head"))


def objective(params: dict, model: MLP, inputs: jax.Array, targets: jax.Array, error: str, lam: float):
  """The lecture's E(w) = error(y(x; w), t) + lambda/2 ||w||^2."""
  return ERRORS[error](network_outputs(params, model, inputs), targets) + lam * weight_decay(params)


def hand_backward(params: dict, inputs: jax.Array, targets: jax.Array, error: str, lam: float) -> dict:
  """The chain rule written out for h = sigmoid(x W1 + b1), y = sigmoid(h W2 + b2) and `objective`.

  [N, D] inputs, [N, K] targets in {0, 1} -> gradients with the same tree as `params`.
  """
  w1, b1 = params["fc1"]["kernel"], params["fc1"]["bias"]
  w2, b2 = params["head"]["kernel"], params["head"]["bias"]
  x = inputs.reshape((inputs.shape[0], -1))
  h = jax.nn.sigmoid(x @ w1 + b1)
  y = jax.nn.sigmoid(h @ w2 + b2)
  d_out = OUTPUT_DELTAS[error](y, targets)     # dE/da2, one row per example
  d_hidden = (d_out @ w2.T) * h * (1.0 - h)    # dE/da1: back through W2, then sigmoid' = h (1 - h)
  return {"fc1": {"kernel": x.T @ d_hidden + lam * w1, "bias": d_hidden.sum(0)},
          "head": {"kernel": h.T @ d_out + lam * w2, "bias": d_out.sum(0)}}


def gradient_check(error: str, lam: float = 0.1, seed: int = 0, n: int = 32, dim: int = 5, hidden: int = 8,
                   outputs: int = 3):
  """(hand-written grads, jax.grad grads) of `objective` for a random network, batch and 0/1 targets."""
  k_init, k_x, k_t = jax.random.split(jax.random.key(seed), 3)
  model = one_hidden_layer(hidden, outputs)
  inputs = jax.random.normal(k_x, (n, dim))
  targets = jax.random.bernoulli(k_t, 0.5, (n, outputs)).astype(jnp.float32)
  params = model.init(k_init, inputs)["params"]
  return (hand_backward(params, inputs, targets, error, lam),
          jax.grad(objective)(params, model, inputs, targets, error, lam))


def max_difference(a: dict, b: dict) -> float:
  return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


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


def _check_figure(out: Path, checks: dict[str, tuple[dict, dict]], lam: float) -> str:
  fig = plotting.new_figure(12, 5)
  axes = fig.subplots(len(checks), 4)
  names = [("fc1", "kernel"), ("fc1", "bias"), ("head", "kernel"), ("head", "bias")]
  for row, (error, (hand, auto)) in zip(axes, checks.items()):
    for ax, (layer, leaf) in zip(row, names):
      a, b = np.ravel(auto[layer][leaf]), np.ravel(hand[layer][leaf])
      ax.scatter(a, b, s=8)
      lim = float(max(np.abs(a).max(), 1e-6))
      ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.8)
      ax.set_title(f"{error}, {layer}/{leaf}: max |diff| {np.abs(a - b).max():.1e}", fontsize=7)
      ax.set_xlabel("jax.grad", fontsize=7)
      ax.set_ylabel("hand-written", fontsize=7)
      ax.tick_params(labelsize=6)
  fig.suptitle(f"E = error + {lam:g}/2 ||w||^2, sigmoid hidden and output units", fontsize=9)
  return plotting.save(fig, out, "backprop_gradient_check.png")


def run(out: Path, lam: float = 0.1) -> plotting.Section:
  x, y, z = -2.0, 5.0, -4.0
  values = circuit(x, y, z)
  f_auto, grads_auto = circuit_autodiff(x, y, z)
  mx, my = -2.0, 3.0
  product = multiply(mx, my)
  p_auto, p_grads = multiply_autodiff(mx, my)
  checks = {error: gradient_check(error, lam) for error in ERRORS}
  section = plotting.Section("4. Back-propagation")
  section.figures = [
      (_circuit_figure(out, values, x, y, z),
       f"the circuit f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4: f = {values['f']:g}, df/dx = df/dy = z = "
       f"{values['df/dx']:g}, df/dz = x + y = {values['df/dz']:g}; next to it f = x y at x = {mx:g}, y = {my:g}: "
       f"f = {product['f']:g}, df/dx = y = {product['df/dx']:g}, df/dy = x = {product['df/dy']:g}"),
      (_check_figure(out, checks, lam),
       f"the lecture's network (cnnjax MLP 5-8-3, sigmoid hidden units, sigmoid outputs) with E = 1/2 sum (y - t)^2 "
       f"(top) or cross-entropy (bottom), plus weight decay {lam:g}/2 ||w||^2: every entry of the hand-derived "
       "backward pass (output delta (y - t) y (1 - y) or y - t) against jax.grad"),
  ]
  section.numbers = {
      "circuit_inputs": {"x": x, "y": y, "z": z},
      "circuit_hand": values,
      "circuit_jax_grad": {"f": f_auto, "df/dx": grads_auto[0], "df/dy": grads_auto[1], "df/dz": grads_auto[2]},
      "multiply_inputs": {"x": mx, "y": my},
      "multiply_hand": product,
      "multiply_jax_grad": {"f": p_auto, "df/dx": p_grads[0], "df/dy": p_grads[1]},
      "weight_decay_lambda": lam,
      "network_max_abs_gradient_difference": {e: max_difference(*c) for e, c in checks.items()},
  }
  return section
