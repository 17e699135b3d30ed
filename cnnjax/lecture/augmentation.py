"""Data augmentation, measured: LeNet-5 on a small Fashion-MNIST subset, several seeds with and without flip + crop.

Why: the lecture claims augmentation helps when data is scarce. One run each way cannot show
that (seed noise is as large as the effect), so each setting is trained with several seeds
and the text reports the mean and spread of test accuracy and loss, whichever way they go.
"""

from pathlib import Path

import numpy as np

from cnnjax.lecture import plotting, training

FLIP_CROP = {"flip": {"probability": 0.5}, "crop": {"padding": 2}}
SETTINGS = {"no augmentation": {}, "flip + crop": FLIP_CROP}


def settings_config(augment: dict, seed: int, train_images: int, epochs: float, batch_size: int = 100):
  """LeNet-5 on the first `train_images` training images with `augment`, lr 0.05 cosine, weight decay 5e-4."""
  return training.small_config("lenet5", epochs=epochs, learning_rate=0.05, batch_size=batch_size,
                               train_split=f"train[:{train_images}]", augment=augment, seed=seed,
                               eval_every_epochs=epochs / 4, log_every_steps=20)


def summarize(finals: list[dict]) -> dict:
  """Per metric of the runs' final results: values, mean and sample standard deviation (ddof 1)."""
  summary = {}
  for key in ("test_accuracy", "test_loss", "train_loss"):
    values = np.array([f[key] for f in finals], dtype=np.float64)
    summary[key] = {"values": values.round(4).tolist(), "mean": round(float(values.mean()), 4),
                    "std": round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4)}
  return summary


def _figure(out: Path, runs: dict[str, list[training.Run]], title: str) -> str:
  fig = plotting.new_figure(12, 3.2)
  axes = fig.subplots(1, 3)
  colors = {"no augmentation": "tab:blue", "flip + crop": "tab:orange"}
  for label, seed_runs in runs.items():
    for i, run in enumerate(seed_runs):
      kw = {"color": colors[label], "alpha": 0.8, "label": label if i == 0 else None}
      axes[0].plot(*run.curve("train", "loss"), lw=0.8, **kw)
      axes[1].plot(*run.curve("test", "loss"), "o-", ms=3, **kw)
      axes[2].plot(*run.curve("test", "accuracy"), "o-", ms=3, **kw)
  for ax, panel in zip(axes, ("training loss", "test loss", "test accuracy")):
    ax.set_title(f"{panel} (one line per seed)", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.legend(fontsize=8)
  axes[0].set_yscale("log")
  fig.suptitle(title, fontsize=9)
  return plotting.save(fig, out, "augmentation_seeds.png")


def describe(summary: dict[str, dict]) -> str:
  """The measured outcome in words: mean +- std per setting and which way the difference went."""
  parts = [f"{k}: test accuracy {v['test_accuracy']['mean']:.3f} +- {v['test_accuracy']['std']:.3f}, "
           f"test loss {v['test_loss']['mean']:.3f} +- {v['test_loss']['std']:.3f}" for k, v in summary.items()]
  plain, aug = summary["no augmentation"], summary["flip + crop"]
  gain = aug["test_accuracy"]["mean"] - plain["test_accuracy"]["mean"]
  noise = max(plain["test_accuracy"]["std"], aug["test_accuracy"]["std"])
  verdict = ("higher" if gain > 0 else "lower") + (" by more than" if abs(gain) > 2 * noise else " by less than") + \
      " twice the larger seed spread"
  return "; ".join(parts) + f". Measured: flip + crop gives {verdict} test accuracy ({gain:+.3f})."


def run(out: Path, workdir: Path, seeds=(0, 1, 2), train_images: int = 2000, epochs: float = 40.0
        ) -> plotting.Section:
  runs = {label: [training.train(settings_config(augment, seed, train_images, epochs),
                                 workdir / f"augmentation_{'aug' if augment else 'plain'}_seed{seed}")
                  for seed in seeds]
          for label, augment in SETTINGS.items()}
  summary = {label: summarize([r.results["final"] for r in seed_runs]) for label, seed_runs in runs.items()}
  text = describe(summary)
  section = plotting.Section("9. Data augmentation, measured over seeds")
  section.figures = [(_figure(out, runs, f"LeNet-5 on {train_images} Fashion-MNIST images, {epochs:g} epochs, "
                                         f"seeds {list(seeds)}"),
                      f"LeNet-5 trained on the first {train_images} training images for {epochs:g} epochs (batch 100), "
                      f"seeds {list(seeds)}, with and without random horizontal flips and 2-pixel crops; tested on "
                      f"all 10,000 test images")]
  section.markdown = ("Mean +- sample standard deviation over the seeds (recorded by `cnnjax lecture --only "
                      f"augmentation`): {text}")
  section.numbers = {"train_images": train_images, "epochs": epochs, "seeds": list(seeds), "summary": summary}
  return section
