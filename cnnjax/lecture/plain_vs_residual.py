"""Can we just add layers? Plain-20/56 against ResNet-20/56 on Fashion-MNIST (He et al. 2016, Fig. 1 and 6).

Why: the lecture's argument for residual connections is a measurement, so the companion shows cnnjax's own:
the CIFAR ResNet family with `shortcut="none"` (plain) and `"zero_pad"` (residual, option A), one recipe,
training and test error against iterations. The trainings are a recorded run (`record`, through
`cnnjax lecture --record plain_vs_residual`, written to results/lecture/plain_vs_residual/ with each run's
config.json, results.json and metrics.jsonl); the section (`run`) only reads that record and draws it.
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np

from cnnjax.errors import InputError
from cnnjax.lecture import plotting

RESULTS = Path("results/lecture/plain_vs_residual")
COMMAND = "cnnjax lecture --record plain_vs_residual"
# label -> (registered model, shortcut kind): the same family, with and without its shortcuts.
RUNS = {
    "plain-20": ("cifar_resnet20", "none"),
    "plain-56": ("cifar_resnet56", "none"),
    "ResNet-20": ("cifar_resnet20", "zero_pad"),
    "ResNet-56": ("cifar_resnet56", "zero_pad"),
}
# The recorded recipe: a CPU-sized cut of He et al.'s (SGD momentum 0.9, lr 0.1, weight decay 1e-4, batch 128),
# with a 0.5-epoch warmup: without one, both 56-layer nets blew up in their first steps (loss ~1e8).
RECIPE = {"train_split": "train[:11520]", "eval_split": "test[:500]", "epochs": 3.0, "learning_rate": 0.1,
          "warmup_epochs": 0.5, "weight_decay": 1e-4, "batch_size": 128, "eval_every_epochs": 0.5,
          "log_every_steps": 5, "seed": 0}
LAST_RECORDS = 6  # the final training error: the mean over the last 6 logged windows (the last 30 steps)


def _config(model: str, shortcut: str, recipe: dict):
  from cnnjax.lecture import training
  config = training.small_config(model, epochs=recipe["epochs"], learning_rate=recipe["learning_rate"],
                                 weight_decay=recipe["weight_decay"], batch_size=recipe["batch_size"],
                                 model_kwargs={"shortcut": shortcut}, train_split=recipe["train_split"],
                                 eval_every_epochs=recipe["eval_every_epochs"],
                                 log_every_steps=recipe["log_every_steps"], seed=recipe["seed"])
  config.dataset.eval_split = recipe["eval_split"]
  config.schedule.warmup_epochs = recipe["warmup_epochs"]
  return config


def _errors(history: list[dict], train: bool) -> list[list[float]]:
  """[[step, 1 - accuracy], ...] of the training records, or of the evaluation ones (logged under the eval
  split's sanitised name, e.g. "test__2000_")."""
  return [[r["step"], 1.0 - r["accuracy"]] for r in history if (r["split"] == "train") == train and "accuracy" in r]


def record(out: Path = RESULTS, workdir: Path = Path("runs/lecture/plain_vs_residual"), recipe: dict | None = None,
           log=print) -> dict:
  """Trains the four RUNS with one recipe, copies each run's config.json, results.json and metrics.jsonl to
  out/LABEL/ and writes out/results.json (curves, final errors, recipe, environment); returns its content."""
  from cnnjax.lecture import training
  from cnnjax.train.environment import describe_environment
  recipe = {**RECIPE, **(recipe or {})}
  out, workdir = Path(out), Path(workdir)
  runs = {}
  for label, (model, shortcut) in RUNS.items():
    log(f"plain_vs_residual: training {label} ({model}, shortcut={shortcut}) ...")
    start = time.perf_counter()
    run = training.train(_config(model, shortcut, recipe), workdir / label)
    seconds = time.perf_counter() - start
    (out / label).mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "results.json", "metrics.jsonl"):
      shutil.copy(workdir / label / name, out / label / name)
    train_error, test_error = _errors(run.history, True), _errors(run.history, False)
    runs[label] = {"model": model, "shortcut": shortcut, "seconds": round(seconds, 1),
                   "params": int(run.results["final"]["params"]),
                   "examples_per_second": run.results["final"]["examples_per_second"],
                   "train_error": train_error, "test_error": test_error,
                   "final_train_error": float(np.mean([e for _, e in train_error[-LAST_RECORDS:]])),
                   "final_test_error": test_error[-1][1]}
    log(f"plain_vs_residual: {label} done in {seconds:.0f} s: training error {runs[label]['final_train_error']:.4f}, "
        f"test error {runs[label]['final_test_error']:.4f}")
  results = {"command": COMMAND, "recipe": recipe, "runs": runs, "environment": describe_environment()}
  out.mkdir(parents=True, exist_ok=True)
  (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
  return results


def load(path: Path = RESULTS / "results.json") -> dict:
  """The recorded results; InputError naming the command that records them when the file is missing."""
  path = Path(path)
  if not path.exists():
    raise InputError(f"{path} is missing; record it with `{COMMAND}` (about 25 minutes on 2 busy CPU cores)")
  return json.loads(path.read_text())


def figure(out: Path, results: dict) -> str:
  """The lecture's two panels: training and test error vs iterations; thin lines plain, bold lines residual."""
  fig = plotting.new_figure(10, 3.4)
  axes = fig.subplots(1, 2)
  colors = {"20": "tab:orange", "56": "tab:red"}
  for label, run in results["runs"].items():
    style = {"color": colors[label.split("-")[1]], "lw": 0.9 if run["shortcut"] == "none" else 2.2,
             "ls": "--" if run["shortcut"] == "none" else "-", "label": label}
    for ax, key in zip(axes, ("train_error", "test_error")):
      steps, errors = np.array(run[key]).T
      ax.plot(steps, 100 * errors, marker="o" if key == "test_error" else None, ms=3, **style)
  recipe = results["recipe"]
  for ax, title in zip(axes, (f"training error (mean over each {recipe['log_every_steps']}-step window)", f"test error ({recipe['eval_split']})")):
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("iteration", fontsize=8)
    ax.set_ylabel("error (%)", fontsize=8)
    ax.legend(fontsize=8)
  fig.suptitle(f"plain vs residual on Fashion-MNIST {recipe['train_split']}, {recipe['epochs']:g} epochs, "
               f"lr {recipe['learning_rate']:g} cosine after {recipe['warmup_epochs']:g} warmup epochs, "
               f"batch {recipe['batch_size']}", fontsize=9)
  return plotting.save(fig, out, "plain_vs_residual.png")


def _verdict(runs: dict) -> str:
  """What the numbers say, whichever way they go: does 56 beat 20, for plain and for residual nets?"""
  parts = []
  for kind in ("plain", "ResNet"):
    shallow, deep = runs[f"{kind}-20"], runs[f"{kind}-56"]
    for key, what in (("final_train_error", "training"), ("final_test_error", "test")):
      relation = "lower" if deep[key] < shallow[key] else "higher" if deep[key] > shallow[key] else "the same"
      parts.append(f"{kind}-56 ends with {relation} {what} error than {kind}-20 "
                   f"({100 * deep[key]:.2f}% vs {100 * shallow[key]:.2f}%)")
  for depth in ("20", "56"):
    plain, residual = runs[f"plain-{depth}"], runs[f"ResNet-{depth}"]
    parts.append(f"at depth {depth} the shortcuts take the training error from {100 * plain['final_train_error']:.2f}% "
                 f"to {100 * residual['final_train_error']:.2f}%")
  return "; ".join(parts)


def markdown(results: dict) -> str:
  """A table of the recorded runs and the generated verdict."""
  lines = ["| net | model | shortcut | parameters | final training error | final test error | seconds |",
           "|---|---|---|---:|---:|---:|---:|"]
  for label, r in results["runs"].items():
    lines.append(f"| {label} | {r['model']} | {r['shortcut']} | {r['params']:,} | {100 * r['final_train_error']:.2f}% "
                 f"| {100 * r['final_test_error']:.2f}% | {r['seconds']:.0f} |")
  env = results["environment"]
  lines += ["", f"Recorded by `{results['command']}` into "
            f"[results/lecture/plain_vs_residual/](../../results/lecture/plain_vs_residual/results.json) "
            f"(each run's config.json and results.json beside it, the versions in its environment; "
            f"{env.get('cpu_count', '?')} CPU cores; the seconds include compilation and evaluation). "
            f"Training error: the mean over the last {LAST_RECORDS * results['recipe']['log_every_steps']} steps. "
            f"Measured: {_verdict(results['runs'])}."]
  return "\n".join(lines)


def run(out: Path, results_path: Path = RESULTS / "results.json") -> plotting.Section:
  results = load(results_path)
  section = plotting.Section("11. Plain vs residual: can we just add layers?")
  section.figures = [(figure(out, results),
                      "training (left) and test (right) error vs iterations of plain-20/56 (thin dashed) and "
                      "ResNet-20/56 (bold), the same CIFAR-style nets and recipe with and without shortcuts")]
  section.numbers = {label: {"final_train_error": r["final_train_error"], "final_test_error": r["final_test_error"],
                             "final_train_error_percent": 100 * r["final_train_error"],  # as the text shows them
                             "final_test_error_percent": 100 * r["final_test_error"],
                             "params": r["params"]} for label, r in results["runs"].items()}
  section.markdown = markdown(results)
  return section
