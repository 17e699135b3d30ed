"""Training tricks: dropout at training vs test time and batch normalization (augmentation: lecture/augmentation.py).

Why: the lecture's tricks, each shown with cnnjax: inverted dropout (cnnjax MLP) keeps the
expected activation so the test-time network is the average of the thinned ones; and the
same small VGG-style network (zoo's VGG, `batch_norm` on/off) trained on the same data.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.models.mlp import MLP
from cnnjax.lecture import plotting, training

TINY_VGG = {"stages": ((16,), (32,), (64, 64)), "hidden_size": 128, "pool_size": (3, 3), "dropout_rate": 0.0}


def dropout_samples(image: np.ndarray, rate: float = 0.5, samples: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
  """Outputs of one MLP with dropout on one image: `samples` train-mode passes and the test-mode pass.

  [H, W, C] image -> {"train": [samples, K], "test": [K], "train_hidden": [3, 64], "test_hidden": [64]}.
  """
  model = MLP(num_classes=10, hidden_sizes=(64,), dropout_rate=rate)
  x = jnp.asarray(image)[None]
  variables = model.init(jax.random.key(seed), x)
  test = model.apply(variables, x, train=False)[0]

  def train_pass(rng):
    return model.apply(variables, x, train=True, rngs={"dropout": rng})[0]

  train = jax.vmap(train_pass)(jax.random.split(jax.random.key(seed + 1), samples))

  def hidden(rng, train):
    _, state = model.apply(variables, x, train=train, rngs={"dropout": rng}, capture_intermediates=True,
                           mutable=["intermediates"])
    return state["intermediates"]["Dropout_0"]["__call__"][0][0]

  test_hidden = hidden(jax.random.key(0), False)
  train_hidden = jnp.stack([hidden(k, True) for k in jax.random.split(jax.random.key(seed + 2), 3)])
  return {"train": np.asarray(train), "test": np.asarray(test), "train_hidden": np.asarray(train_hidden),
          "test_hidden": np.asarray(test_hidden)}


def _dropout_figure(out: Path, d: dict) -> str:
  fig = plotting.new_figure(11, 3)
  axes = fig.subplots(1, 3, width_ratios=(2, 1, 1))
  axes[0].plot(d["test_hidden"], "k-", lw=1.5, label="test (all units)")
  for i, h in enumerate(d["train_hidden"]):
    axes[0].plot(h, lw=0.8, alpha=0.8, label=f"train mask {i}")
  axes[0].set_title("hidden layer: dropped units are 0, kept ones scaled by 1/(1-p)", fontsize=8)
  axes[0].set_xlabel("hidden unit", fontsize=8)
  axes[0].legend(fontsize=6)
  for ax, k in zip(axes[1:], (0, 1)):
    ax.hist(d["train"][:, k], bins=40, color="tab:blue", alpha=0.7)
    ax.axvline(d["test"][k], color="black", label="test-time output")
    ax.axvline(d["train"][:, k].mean(), color="tab:red", ls="--", label="mean of train passes")
    ax.set_title(f"class score {k}: {len(d['train'])} train passes", fontsize=8)
    ax.legend(fontsize=6)
  return plotting.save(fig, out, "tricks_dropout.png")


def _curves_figure(out: Path, runs: dict[str, training.Run], name: str, title: str) -> str:
  fig = plotting.new_figure(12, 3.2)
  axes = fig.subplots(1, 3)
  for label, run in runs.items():
    steps, loss = run.curve("train", "loss")
    line, = axes[0].plot(steps, loss, label=label)
    for ax, key in zip(axes[1:], ("loss", "accuracy")):
      steps, values = run.curve("test", key)
      ax.plot(steps, values, "o-", color=line.get_color(), label=label)
  for ax, panel in zip(axes, ("training loss", "test loss", "test accuracy")):
    ax.set_title(panel, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.legend(fontsize=8)
  axes[0].set_yscale("log")
  fig.suptitle(title, fontsize=9)
  return plotting.save(fig, out, name)


def _final(runs: dict[str, training.Run]) -> dict[str, dict[str, float]]:
  return {k: {key: r.results["final"][key] for key in ("test_accuracy", "test_loss", "train_loss")}
          for k, r in runs.items()}


def _describe(final: dict[str, dict[str, float]]) -> str:
  return "; ".join(f"{k}: test accuracy {v['test_accuracy']:.3f}, test loss {v['test_loss']:.3f}, "
                   f"last training loss {v['train_loss']:.3f}" for k, v in final.items())


def run(out: Path, workdir: Path, bn_epochs: float = 1.0) -> plotting.Section:
  images, _ = training.test_images(1)
  drop = dropout_samples(images[0])

  bn_runs = {}
  for label, use_bn in (("without batch norm", False), ("with batch norm", True)):
    config = training.small_config("vgg11", epochs=bn_epochs, learning_rate=0.05, eval_every_epochs=0.25,
                                   model_kwargs={**TINY_VGG, "batch_norm": use_bn})
    bn_runs[label] = training.train(config, workdir / ("vgg_bn" if use_bn else "vgg_plain"))

  bn_final = _final(bn_runs)
  active = drop["test_hidden"] > 0
  section = plotting.Section("8. Training tricks")
  section.figures = [
      (_dropout_figure(out, drop),
       "dropout p = 0.5 in an MLP: at training time each pass drops a random half of the hidden units and scales "
       "the rest by 2; at test time all units are kept, giving the average of the thinned networks"),
      (_curves_figure(out, bn_runs, "tricks_batch_norm.png",
                      f"small VGG (16-32-64-64 channels) on Fashion-MNIST, {bn_epochs:g} epoch, lr 0.05: with vs without BN"),
       "the same small VGG-style network and data, trained with and without batch normalization after every "
       f"convolution: {_describe(bn_final)}"),
  ]
  section.numbers = {
      "dropout": {"rate": 0.5, "test_output": drop["test"][:3].tolist(),
                  "mean_of_train_outputs": drop["train"].mean(0)[:3].tolist(),
                  "fraction_of_active_units_dropped": float((drop["train_hidden"][:, active] == 0).mean()),
                  "kept_unit_scales": np.unique(np.round(drop["train_hidden"][:, active] / drop["test_hidden"][active],
                                                         4)).tolist()},
      "batch_norm": bn_final,
  }
  return section
