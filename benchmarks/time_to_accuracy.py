"""Time to accuracy: `cnnjax train` against an equivalent PyTorch script, Fashion-MNIST ResNet-20, from a cold start.

    PYTHONPATH=. python benchmarks/time_to_accuracy.py [--seeds 0,1,2] [--target 0.93] [--epochs 15]
        [--run_to_end] [--out benchmarks/results/time_to_accuracy.json] [--note "..."] [--add]
    smoke: ... --train_examples 1024 --test_examples 1000 --epochs 1 --target 0 --seeds 0

Why: a step-time table (benchmarks/cpu_step.py) leaves out what a user waits for: imports, data loading,
compilation, evaluation. Here each framework trains configs/fashion_mnist_resnet20.py's recipe in a fresh
process: (a) `python -m cnnjax train --config configs/fashion_mnist_resnet20.py` in a fresh workdir with an empty
JAX compilation cache (CNNJAX_COMPILATION_CACHE at a new temporary folder, so compiling counts) and otherwise the
command's normal environment; (b) benchmarks/torch_fashion_mnist.py (same model, recipe, epochs, augmentation,
evaluation after every epoch). The clock runs from launching the process until the first evaluation whose test
accuracy reaches --target appears (cnnjax: a test row in the workdir's metrics.jsonl; torch: a line on its
stdout; both polled every --poll seconds), then the process is killed (--run_to_end lets it finish).
The seeds run one after another, interleaved (cnnjax first for even seeds, torch first for odd), so load from
elsewhere falls on both. What stays warm between runs on purpose: the OS page cache, tfds's prepared
Fashion-MNIST and cnnjax's built oneDNN kernels (one-time installs, like torch's wheels).
Writes benchmarks/results/time_to_accuracy.json (benchmarks/machine.py's save_results) and prints its table;
scripts/update_readme.py puts that table in the README. Not part of the test suite.
"""

import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import machine  # benchmarks/machine.py (no JAX)

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/fashion_mnist_resnet20.py"
TORCH_SCRIPT = Path(__file__).resolve().parent / "torch_fashion_mnist.py"
FRAMEWORKS = ("cnnjax", "torch")
BATCH = 128  # the config's; epochs of a cnnjax evaluation row are its step / (train examples // BATCH)
TRAIN_EXAMPLES, TEST_EXAMPLES = 60_000, 10_000
COMPILED = re.compile(r"train step compiled in ([0-9.]+) s")


def split_name(split: str) -> str:
  """The "split" of a cnnjax evaluation row in metrics.jsonl (cnnjax.train.runner._split_name)."""
  return "".join(ch if ch.isalnum() else "_" for ch in split)


@dataclass
class Launch:
  """One process to time: its command, environment, and how to read its evaluations so far."""

  command: list[str]
  env: dict[str, str]
  evaluations: Callable[[], list[dict]]  # every {"epoch", "step", "test_accuracy"} written so far
  log: Path


def _complete_lines(path: Path) -> list[str]:
  """The lines of `path` that end with a newline (a line being written is left for the next poll)."""
  if not path.exists():
    return []
  text = path.read_text()
  return text[:text.rfind("\n") + 1].splitlines()


def cnnjax_launch(args, seed: int, folder: Path) -> Launch:
  """`python -m cnnjax train` of the config in folder/workdir, its compilation cache at the empty folder/cache."""
  workdir, cache = folder / "workdir", folder / "cache"
  cache.mkdir()
  train_split = f"train[:{args.train_examples}]" if args.train_examples else "train"
  eval_split = f"test[:{args.test_examples}]" if args.test_examples else "test"
  command = [sys.executable, "-m", "cnnjax", "train", "--config", CONFIG, "--workdir", str(workdir),
             f"--config.seed={seed}", "--config.progress_bar=False", f"--config.num_epochs={args.epochs}",
             f"--config.dataset.train_split={train_split}", f"--config.dataset.eval_split={eval_split}",
             *(f"--config.{override}" for override in args.config_overrides)]
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}  # a user's cache would win
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
  env["CNNJAX_COMPILATION_CACHE"] = str(cache)
  steps_per_epoch = (args.train_examples or TRAIN_EXAMPLES) // BATCH
  split = split_name(eval_split)

  def evaluations() -> list[dict]:
    rows = [json.loads(line) for line in _complete_lines(workdir / "metrics.jsonl")]
    return [{"epoch": row["step"] / steps_per_epoch, "step": row["step"], "test_accuracy": row["accuracy"]}
            for row in rows if row.get("split") == split]

  return Launch(command, env, evaluations, folder / "log.txt")


def torch_launch(args, seed: int, folder: Path) -> Launch:
  """benchmarks/torch_fashion_mnist.py with the same seed, epochs and example counts; its stdout to folder/log.txt."""
  command = [sys.executable, str(TORCH_SCRIPT), f"--seed={seed}", f"--epochs={args.epochs}",
             f"--train_examples={args.train_examples}", f"--test_examples={args.test_examples}",
             f"--layout={args.torch_layout}"]
  log = folder / "log.txt"

  def evaluations() -> list[dict]:
    found = []
    for line in _complete_lines(log):
      if line.startswith("{") and '"test_accuracy"' in line:
        row = json.loads(line)
        found.append({"epoch": row["epoch"], "step": row["step"], "test_accuracy": row["test_accuracy"]})
    return found

  return Launch(command, dict(os.environ), evaluations, log)


LAUNCHES = {"cnnjax": cnnjax_launch, "torch": torch_launch}


def _stop(process: subprocess.Popen) -> None:
  """Kills the process group this benchmark started for the run (the process and anything it spawned)."""
  try:
    os.killpg(process.pid, signal.SIGKILL)
  except ProcessLookupError:
    pass
  process.wait()


def time_run(framework: str, seed: int, args) -> dict:
  """Launches one framework's training and times it to the first evaluation at or above args.target."""
  with tempfile.TemporaryDirectory(prefix=f"tta_{framework}_") as folder:
    launch = LAUNCHES[framework](args, seed, Path(folder))
    evaluations, reached, timed_out = [], None, False
    with open(launch.log, "w") as log:
      start = time.perf_counter()
      process = subprocess.Popen(launch.command, env=launch.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
      while True:
        exited = process.poll() is not None
        now = time.perf_counter() - start
        for row in launch.evaluations()[len(evaluations):]:
          evaluations.append({**row, "seconds": now})
          if reached is None and row["test_accuracy"] >= args.target:
            reached = evaluations[-1]
        if exited or (reached and not args.run_to_end):
          break
        if now > args.timeout:
          timed_out = True
          break
        time.sleep(args.poll)
      process_seconds = time.perf_counter() - start
      killed = process.poll() is None
      if killed:
        _stop(process)
    text = launch.log.read_text(errors="replace")
    if not killed and process.returncode:
      raise RuntimeError(f"{framework} seed {seed} exited with {process.returncode}:\n{text[-3000:]}")
    compile_seconds = _compile_seconds(framework, Path(folder), text)
  row = {"framework": framework, "seed": seed, "reached": reached is not None,
         "seconds_to_target": reached["seconds"] if reached else None,
         "epoch": reached["epoch"] if reached else None, "step": reached["step"] if reached else None,
         "test_accuracy": reached["test_accuracy"] if reached else None,
         "best_test_accuracy": max((e["test_accuracy"] for e in evaluations), default=None),
         "compile_seconds": compile_seconds, "process_seconds": process_seconds, "stopped_early": killed,
         "timed_out": timed_out, "evaluations": evaluations}
  print(f"seed {seed} {framework}: " + (f"{row['test_accuracy']:.4f} >= {args.target} after {row['seconds_to_target']:.1f} s "
                                        f"(epoch {row['epoch']:g}, step {row['step']})" if reached else
                                        f"never reached {args.target} (best {row['best_test_accuracy']})"), flush=True)
  return row


def _compile_seconds(framework: str, folder: Path, log_text: str) -> dict | None:
  """cnnjax's train (and, for a finished run, eval) step compile seconds; None for torch (eager: no compile)."""
  if framework != "cnnjax":
    return None
  results = folder / "workdir" / "results.json"
  if results.exists():
    compile_report = json.loads(results.read_text())["compile"]
    return {"train_step": compile_report.get("train_step_seconds"),
            "eval_step": compile_report.get("eval_step_seconds")}
  found = COMPILED.search(log_text)
  return {"train_step": float(found.group(1)), "eval_step": None} if found else None


def summarise(runs: list[dict]) -> dict:
  """Per framework: seeds that reached the target and median seconds, epoch and compile time over those; the ratio
  torch / cnnjax of the medians and per seed where both reached it."""
  summary = {}
  for framework in FRAMEWORKS:
    mine = [r for r in runs if r["framework"] == framework]
    done = [r for r in mine if r["reached"]]
    compiles = [r["compile_seconds"]["train_step"] for r in mine if r["compile_seconds"]]
    summary[framework] = {
        "seeds": len(mine), "seeds_reached": len(done),
        "median_seconds_to_target": statistics.median(r["seconds_to_target"] for r in done) if done else None,
        "median_epoch": statistics.median(r["epoch"] for r in done) if done else None,
        "median_train_step_compile_seconds": statistics.median(compiles) if compiles else None}
  cnnjax, torch = (summary[f]["median_seconds_to_target"] for f in FRAMEWORKS)
  summary["torch_over_cnnjax"] = torch / cnnjax if cnnjax and torch else None
  by_seed = {(r["framework"], r["seed"]): r for r in runs}
  summary["torch_over_cnnjax_per_seed"] = {
      str(seed): by_seed["torch", seed]["seconds_to_target"] / by_seed["cnnjax", seed]["seconds_to_target"]
      for seed in sorted({r["seed"] for r in runs})
      if by_seed["cnnjax", seed]["reached"] and by_seed["torch", seed]["reached"]}
  return summary


def _seconds(value) -> str:
  return "-" if value is None else f"{value:.1f}"


def markdown(results: dict) -> str:
  """One row per framework: seeds at target, median seconds, each seed's seconds (epoch), compile seconds."""
  summary = results["summary"]
  lines = [f"| framework | seeds reaching {results['target']:.2%} | median s to target | per seed: s (epoch) | "
           "median epoch | train-step compile s |", "|---|---:|---:|---|---:|---:|"]
  for framework in FRAMEWORKS:
    s = summary[framework]
    per_seed = ", ".join(f"{r['seed']}: {_seconds(r['seconds_to_target'])}"
                         + (f" ({r['epoch']:g})" if r["reached"] else f" (best {r['best_test_accuracy']:.4f})")
                         for r in results["runs"] if r["framework"] == framework)
    median_epoch = "-" if s["median_epoch"] is None else f"{s['median_epoch']:g}"
    lines.append(f"| {framework} | {s['seeds_reached']}/{s['seeds']} | {_seconds(s['median_seconds_to_target'])} | "
                 f"{per_seed} | {median_epoch} | {_seconds(s['median_train_step_compile_seconds'])} |")
  ratio = summary["torch_over_cnnjax"]
  per_seed = ", ".join(f"{seed}: {value:.2f}" for seed, value in summary["torch_over_cnnjax_per_seed"].items())
  lines.append("")
  lines.append(f"torch / cnnjax (median seconds to target): {'-' if ratio is None else f'{ratio:.2f}'}"
               + (f"; per seed {per_seed}" if per_seed else ""))
  return "\n".join(lines)


def command_line(args) -> str:
  """The command that reproduces this measurement (the note is recorded apart)."""
  parts = ["PYTHONPATH=. python benchmarks/time_to_accuracy.py", f"--seeds {args.seeds}", f"--target {args.target}",
           f"--epochs {args.epochs:g}"]
  for flag in ("train_examples", "test_examples"):
    if getattr(args, flag):
      parts.append(f"--{flag} {getattr(args, flag)}")
  if args.config_overrides:
    parts.append("--config_overrides " + " ".join(shlex.quote(o) for o in args.config_overrides))
  if args.torch_layout != "channels_last":
    parts.append(f"--torch_layout {args.torch_layout}")
  if args.run_to_end:
    parts.append("--run_to_end")
  return " ".join(parts)


def parse_args(argv: list[str] | None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--seeds", default="0,1,2", help="comma-separated; cnnjax runs first for even seeds")
  parser.add_argument("--target", type=float, default=0.93, help="test accuracy to reach")
  parser.add_argument("--epochs", type=float, default=15.0, help="training length given to both (the recipe's 15)")
  parser.add_argument("--run_to_end", action="store_true", help="let each run finish instead of stopping at target")
  parser.add_argument("--train_examples", type=int, default=0, help="the first N training images (smoke runs)")
  parser.add_argument("--test_examples", type=int, default=0, help="the first N test images (smoke runs)")
  parser.add_argument("--config_overrides", nargs="*", default=[], metavar="KEY=VALUE",
                      help="extra cnnjax config overrides, each given as --config.KEY=VALUE (smoke runs)")
  parser.add_argument("--torch_layout", choices=("channels_last", "nchw"), default="channels_last")
  parser.add_argument("--poll", type=float, default=0.05, help="seconds between looks at a run's evaluations")
  parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds allowed per run")
  parser.add_argument("--note", default="", help="recorded with the results, e.g. what else shared the CPU")
  parser.add_argument("--out", default="benchmarks/results/time_to_accuracy.json")
  parser.add_argument("--add", action="store_true",
                      help="add these seeds' runs to those already in --out (same target, epochs, sizes and layout) "
                           "instead of replacing it: seeds recorded in separate sittings summarised together")
  return parser.parse_args(argv)


SAME_SETTINGS = ("target", "epochs", "train_examples", "test_examples", "run_to_end", "torch_layout")


def _add_to(previous: dict, results: dict) -> dict:
  """`results` with `previous`'s runs first and one summary over all; each sitting's command, commit, note and load
  stay in "sittings". Refuses a different setting or a seed already recorded."""
  changed = [k for k in SAME_SETTINGS if previous.get(k) != results[k]]
  if changed:
    raise SystemExit(f"--add: {', '.join(changed)} differ from the recorded runs'; record to another --out")
  again = {r["seed"] for r in previous["runs"]} & {r["seed"] for r in results["runs"]}
  if again:
    raise SystemExit(f"--add: seeds {sorted(again)} are already recorded")
  sitting_keys = ("command", "git_commit", "note", "load_average_before", "load_average_after", "wall_seconds")
  sittings = previous.get("sittings") or [{k: previous.get(k) for k in sitting_keys}]
  runs = previous["runs"] + results["runs"]
  seeds = ",".join(dict.fromkeys(str(r["seed"]) for r in runs))
  return {**results, "command": re.sub(r"--seeds \S+", f"--seeds {seeds}", results["command"]),
          "sittings": sittings + [{k: results.get(k) for k in sitting_keys}],
          "note": "; ".join(dict.fromkeys(s["note"] for s in sittings + [results] if s.get("note"))),
          "runs": runs, "summary": summarise(runs)}


def main(argv: list[str] | None = None) -> int:
  args = parse_args(argv)
  started, load_before = time.time(), os.getloadavg()
  runs = []
  for seed in (int(s) for s in args.seeds.split(",")):
    order = FRAMEWORKS if seed % 2 == 0 else FRAMEWORKS[::-1]
    runs += [time_run(framework, seed, args) for framework in order]
  results = {
      "command": command_line(args), "target": args.target, "epochs": args.epochs,
      "train_examples": args.train_examples or TRAIN_EXAMPLES, "test_examples": args.test_examples or TEST_EXAMPLES,
      "run_to_end": args.run_to_end, "torch_layout": args.torch_layout, "note": args.note,
      "machine": machine.cpu_description(), "versions": machine.versions(), "git_commit": machine.git_commit(),
      "load_average_before": load_before, "runs": runs, "summary": summarise(runs),
      "load_average_after": os.getloadavg(), "wall_seconds": time.time() - started,
  }
  out = Path(args.out)
  out = out if out.is_absolute() else REPO / out
  if args.add and out.exists():
    results = _add_to(json.loads(out.read_text()), results)
  results["markdown"] = markdown(results)
  machine.save_results(results, out, REPO)
  return 0


if __name__ == "__main__":
  sys.exit(main())
