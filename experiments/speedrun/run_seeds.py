"""The Fashion-MNIST speedrun over several seeds, and optionally with each lever turned off in turn (issue #20).

    PYTHONPATH=. python experiments/speedrun/run_seeds.py --seeds 0,1,2,3,4
    PYTHONPATH=. python experiments/speedrun/run_seeds.py --seeds 0,1,2,3,4 --ablate label_smoothing,ema,tta

Each run is a `cnnjax train` process (so its XLA settings apply before JAX starts, as for a user) in a scratch
workdir; its config.json, results.json and metrics.jsonl are copied to OUT/<name>/seed<S>/ and its checkpoints
are deleted. A seed whose results.json is already in OUT is not run again, so an interrupted study resumes.
"Wall seconds" are those of the whole process: start-up, data loading, compilation, training and evaluation.
Before its checkpoint goes, each full-recipe run is also evaluated four ways (raw or EMA weights, with or without
flip TTA: experiments/speedrun/evaluate_levers.py, into OUT/full/seed<S>/evaluate_levers.json): neither lever
feeds back into training, so that measures their effect exactly without retraining (--ablate ema,tta retrains).
Writes OUT/summary.json and OUT/README.md: test accuracy (mean, std, min, max), mean wall seconds, how many
seeds reached the target, per lever the mean (and per-seed) difference against the full recipe, and the mean
four-way evaluation.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = "configs/fashion_mnist_speedrun.py"
TARGET = 0.94
KEPT_FILES = ("config.json", "results.json", "metrics.jsonl")
# lever -> the overrides that turn it off (the run is named "no_<lever>")
ABLATIONS = {
    "label_smoothing": ("--config.label_smoothing=0.0",),
    "ema": ("--config.ema_decay=0.0",),
    "tta": ("--config.eval_flip_tta=False",),
}


def parse_list(text: str) -> list[str]:
  return [part for part in text.split(",") if part]


def run_one(config: str, overrides: tuple[str, ...], seed: int, out: Path, scratch: Path,
            four_ways: bool = False) -> dict:
  """Trains one seed with `overrides` unless OUT already has it (then with `four_ways`, evaluates its checkpoint
  four ways); returns its row (accuracy, seconds)."""
  out.mkdir(parents=True, exist_ok=True)
  timing = out / "wall.json"
  if not (out / "results.json").exists():
    workdir = scratch / f"{out.parent.name}_seed{seed}"
    shutil.rmtree(workdir, ignore_errors=True)
    command = [sys.executable, "-m", "cnnjax", "train", "--config", config, *overrides, f"--config.seed={seed}",
               "--config.progress_bar=False", "--workdir", str(workdir)]
    print(" ".join(command[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    wall = time.perf_counter() - start
    if four_ways:
      subprocess.run([sys.executable, str(Path(__file__).with_name("evaluate_levers.py")), "--workdir", str(workdir)],
                     check=True, cwd=REPO)
    for name in KEPT_FILES + (("evaluate_levers.json",) if four_ways else ()):
      shutil.copy(workdir / name, out / name)
    timing.write_text(json.dumps({"wall_seconds": wall, "command": ["cnnjax", *command[3:]]}, indent=2) + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
  results = json.loads((out / "results.json").read_text())
  final = results["final"]
  row = {"seed": seed, "test_accuracy": final["test_accuracy"], "test_loss": final["test_loss"],
         "wall_seconds": json.loads(timing.read_text())["wall_seconds"] if timing.exists() else None,
         "examples_per_second": final.get("examples_per_second"), "epochs": final["epochs"],
         "evaluation": results.get("evaluation")}
  if (out / "evaluate_levers.json").exists():
    row["four_ways"] = json.loads((out / "evaluate_levers.json").read_text())
  return row


def describe(values: list[float]) -> dict:
  """mean, sample std (0 for one value), min and max."""
  return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
          "min": min(values), "max": max(values), "n": len(values)}


def summarise(rows: dict[str, list[dict]], target: float = TARGET) -> dict:
  """Per run name: accuracy statistics, mean wall seconds and seeds at the target; per lever: the differences
  (ablated - full) of accuracy and wall seconds on the seeds both have."""
  summary = {"target_accuracy": target, "runs": {}, "levers": {}}
  for name, seeds in rows.items():
    walls = [r["wall_seconds"] for r in seeds if r["wall_seconds"] is not None]
    summary["runs"][name] = {"test_accuracy": describe([r["test_accuracy"] for r in seeds]),
                             "wall_seconds_mean": statistics.fmean(walls) if walls else None,
                             "reached_target": sum(r["test_accuracy"] >= target for r in seeds),
                             "seeds": seeds}
  four_ways = [r["four_ways"] for r in rows.get("full", []) if "four_ways" in r]
  if four_ways:  # mean accuracy of the full runs' checkpoints by weights (raw, ema) and flip TTA (plain, flip_tta)
    weights = [w for w in ("raw", "ema") if all(w in f for f in four_ways)]
    summary["four_ways"] = {w: {t: statistics.fmean(f[w][t] for f in four_ways) for t in ("plain", "flip_tta")}
                            for w in weights} | {"n": len(four_ways)}
  full = {r["seed"]: r for r in rows.get("full", [])}
  for name, seeds in rows.items():
    if name == "full":
      continue
    paired = [(r, full[r["seed"]]) for r in seeds if r["seed"] in full]
    if not paired:
      continue
    differences = [r["test_accuracy"] - f["test_accuracy"] for r, f in paired]
    walls = [r["wall_seconds"] - f["wall_seconds"] for r, f in paired
             if r["wall_seconds"] is not None and f["wall_seconds"] is not None]
    summary["levers"][name.removeprefix("no_")] = {
        "accuracy_difference_mean": statistics.fmean(differences), "accuracy_differences": differences,
        "wall_seconds_difference_mean": statistics.fmean(walls) if walls else None}
  return summary


def report(summary: dict, config: str) -> str:
  """OUT/README.md: the tables of summary.json."""
  lines = [f"# Fashion-MNIST speedrun ({config})", "",
           "Written by `experiments/speedrun/run_seeds.py` from the runs in this folder; wall seconds are whole "
           "`cnnjax train` processes on the shared 2-core CPU.", ""]
  if summary.get("note"):
    lines += [f"Note: {summary['note']}", ""]
  lines += [f"| run | seeds | test accuracy mean | std | min | max | >= {summary['target_accuracy']:.0%} | "
            "wall s (mean) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for name, run in summary["runs"].items():
    acc = run["test_accuracy"]
    wall = f"{run['wall_seconds_mean']:.0f}" if run["wall_seconds_mean"] is not None else "-"
    lines.append(f"| {name} | {acc['n']} | {acc['mean']:.4f} | {acc['std']:.4f} | {acc['min']:.4f} | "
                 f"{acc['max']:.4f} | {run['reached_target']}/{acc['n']} | {wall} |")
  if summary["levers"]:
    lines += ["", "Each lever turned off in turn (same seeds): mean difference against the full recipe "
              "(negative accuracy: the lever helps).", "",
              "| lever off | accuracy difference (mean) | per seed | wall s difference (mean) |",
              "|---|---:|---|---:|"]
    for lever, d in summary["levers"].items():
      wall = f"{d['wall_seconds_difference_mean']:+.0f}" if d["wall_seconds_difference_mean"] is not None else "-"
      per_seed = ", ".join(f"{x:+.4f}" for x in d["accuracy_differences"])
      lines.append(f"| {lever} | {d['accuracy_difference_mean']:+.4f} | {per_seed} | {wall} |")
  if "four_ways" in summary:
    f = summary["four_ways"]
    lines += ["", f"The full recipe's checkpoints evaluated four ways (mean test accuracy over {f['n']} seeds; "
              "the EMA and the flip TTA do not feed back into training, so this is their exact effect):", "",
              "| weights | plain | flip TTA |", "|---|---:|---:|"]
    lines += [f"| {w} | {f[w]['plain']:.4f} | {f[w]['flip_tta']:.4f} |" for w in ("raw", "ema") if w in f]
  return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
  parser.add_argument("--ablate", default="", help=f"levers to turn off in turn: {','.join(ABLATIONS)}")
  parser.add_argument("--config", default=CONFIG)
  parser.add_argument("--out", default="results/speedrun")
  parser.add_argument("--scratch", default=None, help="where the workdirs (with checkpoints) live while running")
  parser.add_argument("--override", action="append", default=[],
                      help="a --config.KEY=VALUE for every run (repeatable), e.g. --override=--config.num_epochs=2")
  parser.add_argument("--note", default="", help="a remark for summary.json and the report (e.g. what shared the CPU)")
  parser.add_argument("--no_four_ways", action="store_true",
                      help="skip the four-way evaluation (raw/EMA x plain/flip TTA) of the full runs' checkpoints")
  args = parser.parse_args(argv)
  seeds = [int(s) for s in parse_list(args.seeds)]
  levers = parse_list(args.ablate)
  unknown = [lever for lever in levers if lever not in ABLATIONS]
  if unknown:
    parser.error(f"--ablate {','.join(unknown)}: unknown; use some of {','.join(ABLATIONS)}")
  runs = {"full": ()} | {f"no_{lever}": ABLATIONS[lever] for lever in levers}
  out = Path(args.out)
  scratch = Path(args.scratch or tempfile.mkdtemp(prefix="speedrun_"))
  rows = {name: [run_one(args.config, (*args.override, *overrides), seed, out / name / f"seed{seed}", scratch,
                         four_ways=name == "full" and not args.no_four_ways)
                 for seed in seeds] for name, overrides in runs.items()}
  summary = {"config": args.config, "overrides": args.override, "note": args.note, **summarise(rows)}
  (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
  (out / "README.md").write_text(report(summary, args.config))
  print(report(summary, args.config))
  return 0


if __name__ == "__main__":
  sys.exit(main())
