"""Crash campaign: kill `cnnjax train` with SIGKILL at random moments, resume it, compare bitwise.

Trains a short run once without interruption, then the same config in another workdir, killed
(during start-up, while a checkpoint is being saved, during an evaluation, at a random time) and
started again after each kill until it finishes: a round. Rounds follow until N kills are placed.
Each round's final train state (every
array of parameters, optimizer state and batch statistics), every row of metrics.jsonl and
results.json (timing fields aside) must equal the uninterrupted run's. Writes campaign.json (kills, checks,
config, environment) and campaign.md under --out.

    .venv/bin/python scripts/crash_campaign.py --kills 24 --out results/crash_campaign
"""

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CNNJAX = [sys.executable, "-m", "cnnjax.main", "train"]
TIMING = {"examples_per_second"}
KINDS = ("startup", "save", "evaluation", "random")
# 60,000 training images in batches of 512: 117 steps an epoch, so the run crosses an epoch boundary;
# an evaluation every 40 steps, a checkpoint every 25.
OVERRIDES = {"batch_size": 512, "num_train_steps": 150, "checkpoint_every_steps": 25, "log_every_steps": 5,
             "eval_every_epochs": 40 / 117, "keep_checkpoints": 3, "progress_bar": False}


def command(config: str, workdir: Path) -> list[str]:
  return [*CNNJAX, "--config", config, "--workdir", str(workdir), *(f"--config.{k}={v}" for k, v in OVERRIDES.items())]


def rows(workdir: Path) -> list[dict]:
  from cnnjax.train.metric_writer import read_rows
  return read_rows(workdir / "metrics.jsonl")


def committed_steps(workdir: Path) -> list[int]:
  directory = workdir / "checkpoints"
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit()) if directory.is_dir() else []


class Watcher:
  """What the run started at `started` is doing now, from its workdir: saving a checkpoint (orbax's
  temporary folder, made by this run) or evaluating (the training row of an evaluation step appended
  by this run, its evaluation row not yet)."""

  def __init__(self, workdir: Path, eval_steps: set[int], started_wall: float):
    self.workdir, self.eval_steps, self.started_wall = workdir, eval_steps, started_wall
    self.old_keys = {(r["step"], r["split"]) for r in rows(workdir)}  # logged by earlier runs

  def saving_step(self) -> int | None:
    directory = self.workdir / "checkpoints"
    if not directory.is_dir():
      return None
    for partial in directory.glob("*.orbax-checkpoint-tmp*"):
      try:
        fresh = partial.stat().st_mtime >= self.started_wall
      except FileNotFoundError:  # finished meanwhile
        continue
      if fresh and partial.name.split(".")[0].isdigit():
        return int(partial.name.split(".")[0])
    return None

  def evaluating_step(self) -> int | None:
    keys = [(r["step"], r["split"]) for r in rows(self.workdir)]
    evaluated = {step for step, split in keys if split != "train"}
    pending = [step for step, split in keys if split == "train" and step in self.eval_steps
               and step not in evaluated and (step, split) not in self.old_keys]
    return pending[-1] if pending else None


def kill_when(process, trigger, deadline: float) -> bool:
  """Polls `trigger()` every 10 ms and sends SIGKILL when it holds; False if the run ended first."""
  while time.monotonic() < deadline and process.poll() is None:
    if trigger():
      break
    time.sleep(0.01)
  if process.poll() is not None:
    return False
  process.send_signal(signal.SIGKILL)
  process.wait()
  return True


def one_kill(config: str, workdir: Path, kind: str, rng: random.Random, timing: dict, log) -> dict | None:
  """Starts the run, kills it at a moment of `kind` and describes that moment; None if it finished first."""
  total = OVERRIDES["num_train_steps"]
  resume = max(committed_steps(workdir), default=0)
  saves = [s for s in range(OVERRIDES["checkpoint_every_steps"], total + 1, OVERRIDES["checkpoint_every_steps"])] + [total]
  eval_every = round(OVERRIDES["eval_every_epochs"] * 117)
  evals = set(range(eval_every, total, eval_every)) | {total}
  watch = Watcher(workdir, evals, time.time() - 1.0)  # file times have coarse resolution on some file systems
  started = time.monotonic()
  process = subprocess.Popen(command(config, workdir), cwd=REPO, stdout=log, stderr=log, start_new_session=True)
  state = {}
  if kind == "save" and any(s > resume for s in saves):
    target = rng.choice([s for s in saves if s > resume])
    trigger = lambda: (watch.saving_step() or 0) >= target
  elif kind == "evaluation" and any(s > resume for s in evals):
    target = rng.choice(sorted(s for s in evals if s > resume))
    delay = rng.uniform(0.0, 0.3)
    def trigger():
      if (watch.evaluating_step() or 0) >= target:
        state.setdefault("seen", time.monotonic())
      return "seen" in state and time.monotonic() - state["seen"] >= delay
  elif kind == "startup":
    at = started + rng.uniform(0.2, 0.8 * timing["startup"])
    trigger = lambda: time.monotonic() >= at
  else:
    kind = "random"
    left = timing["training"] * (total - resume) / total
    at = started + rng.uniform(0.2, timing["startup"] + left)
    trigger = lambda: time.monotonic() >= at
  saving = evaluating = None
  def observed_trigger():
    nonlocal saving, evaluating
    fired = trigger()
    if fired:
      saving = watch.saving_step()
      evaluating = None if saving is not None else watch.evaluating_step()  # a save precedes its evaluation
    return fired
  if not kill_when(process, observed_trigger, deadline=started + 600):
    return None
  return {"kind": kind, "seconds_after_start": round(time.monotonic() - started, 2), "resumed_from": resume,
          "last_logged_step": max((r["step"] for r in rows(workdir)), default=0),
          "saving_step": saving, "evaluating_step": evaluating, "committed_after": committed_steps(workdir)}


def compare(reference: Path, campaign: Path) -> dict:
  """Bitwise comparison of the final state, metrics.jsonl and results.json (timing fields aside)."""
  import numpy as np
  import jax
  import orbax.checkpoint as ocp
  step = OVERRIDES["num_train_steps"]
  restore = lambda w: ocp.StandardCheckpointer().restore(w / "checkpoints" / str(step) / "default")
  a, b = jax.tree.leaves(restore(reference)), jax.tree.leaves(restore(campaign))
  arrays_equal = len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
  key = lambda r: (r["step"], r["split"])
  strip = lambda r: {k: v for k, v in r.items() if k not in TIMING}
  ref_rows, run_rows = rows(reference), rows(campaign)
  ref_keys, run_keys = [key(r) for r in ref_rows], [key(r) for r in run_rows]
  final = lambda w: strip(json.loads((w / "results.json").read_text())["final"])
  return {"arrays": len(a), "arrays_bitwise_equal": arrays_equal,
          "rows_reference": len(ref_rows), "rows_campaign": len(run_rows),
          "rows_lost": len(set(ref_keys) - set(run_keys)), "rows_duplicated": len(run_keys) - len(set(run_keys)),
          "rows_bitwise_equal": [strip(r) for r in ref_rows] == [strip(r) for r in run_rows],
          "results_bitwise_equal": final(reference) == final(campaign),
          "rejected_checkpoints": (campaign / "rejected_checkpoints").exists(),
          "leftover_temporary_folders": len(list((campaign / "checkpoints").glob("*tmp*")))}


def markdown(report: dict) -> str:
  """A summary table over all rounds, then one row per kill."""
  rounds = report["rounds"]
  kills = [k for r in rounds for k in r["kills"]]
  checks = [r["checks"] for r in rounds]
  all_yes = lambda key: "yes" if all(c[key] for c in checks) else "NO"
  by_kind = ", ".join(f"{n} {kind}" for kind in KINDS if (n := sum(k["kind"] == kind for k in kills)))
  lines = [f"Crash campaign at commit {str(report['environment'].get('git_commit'))[:12]}: "
           f"`{report['command']}`; each round is killed until it finishes, then compared with an uninterrupted run.", "",
           "| kills | rounds | moments | final state bitwise equal | metrics rows bitwise equal | rows lost | rows duplicated | results.json equal |",
           "|---:|---:|---|---|---|---:|---:|---|",
           f"| {len(kills)} | {len(rounds)} | {by_kind} ({sum(k['saving_step'] is not None for k in kills)} during a save, "
           f"{sum(k['evaluating_step'] is not None for k in kills)} during an evaluation) | "
           f"{all_yes('arrays_bitwise_equal')} ({checks[0]['arrays']} arrays) | {all_yes('rows_bitwise_equal')} | "
           f"{sum(c['rows_lost'] for c in checks)} | {sum(c['rows_duplicated'] for c in checks)} | "
           f"{all_yes('results_bitwise_equal')} |",
           "", "| round | kill | kind | s after start | resumed from | last logged step | saving step | evaluating step |",
           "|---:|---:|---|---:|---:|---:|---:|---:|"]
  number = 0
  for r, round_ in enumerate(rounds, 1):
    for k in round_["kills"]:
      number += 1
      lines.append(f"| {r} | {number} | {k['kind']} | {k['seconds_after_start']} | {k['resumed_from']} | "
                   f"{k['last_logged_step']} | {k['saving_step'] if k['saving_step'] is not None else ''} | "
                   f"{k['evaluating_step'] if k['evaluating_step'] is not None else ''} |")
  return "\n".join(lines) + "\n"


def passed(report: dict) -> bool:
  return all(c["arrays_bitwise_equal"] and c["rows_bitwise_equal"] and c["results_bitwise_equal"]
             and not c["rows_lost"] and not c["rows_duplicated"] for c in (r["checks"] for r in report["rounds"]))


def time_reference_run(config: str, workdir: Path, log) -> dict:
  """Runs the uninterrupted reference; returns seconds to its first logged row and from there to the end."""
  started = time.monotonic()
  process = subprocess.Popen(command(config, workdir), cwd=REPO, stdout=log, stderr=log)
  while process.poll() is None and not (workdir / "metrics.jsonl").exists():
    time.sleep(0.01)
  first_row = time.monotonic() - started
  if process.wait() != 0:
    raise SystemExit(f"the reference run failed; see {log.name}")
  return {"startup": first_row, "training": time.monotonic() - started - first_row}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/fashion_mnist_lenet5.py")
  parser.add_argument("--kills", type=int, default=24)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--scratch", type=Path, default=REPO / "runs" / "crash_campaign", help="workdirs (emptied)")
  parser.add_argument("--out", type=Path, default=REPO / "results" / "crash_campaign")
  args = parser.parse_args(argv)
  import shutil
  shutil.rmtree(args.scratch, ignore_errors=True)
  args.scratch.mkdir(parents=True)
  reference = args.scratch / "reference"
  log = (args.scratch / "log.txt").open("w")
  timing = time_reference_run(args.config, reference, log)
  print(f"reference run: start-up {timing['startup']:.1f} s, then {timing['training']:.1f} s", flush=True)
  rng = random.Random(args.seed)
  rounds, kills = [], 0
  while kills < args.kills and len(rounds) < 2 * args.kills:
    workdir, moments = args.scratch / f"round{len(rounds) + 1}", []
    while True:
      moment = one_kill(args.config, workdir, KINDS[kills % len(KINDS)], rng, timing, log)
      if moment is None:  # it finished before the moment came: the round is complete
        break
      moments.append(moment)
      kills += 1
      print(f"round {len(rounds) + 1}, kill {kills}: {moment}", flush=True)
      if kills == args.kills:
        subprocess.run(command(args.config, workdir), cwd=REPO, stdout=log, stderr=log, check=True)
        break
    rounds.append({"kills": moments, "checks": compare(reference, workdir)})
    print(f"round {len(rounds)} finished: {rounds[-1]['checks']}", flush=True)
  from cnnjax.train import environment
  report = {"command": f"scripts/crash_campaign.py --kills {args.kills} --seed {args.seed} --config {args.config}",
            "overrides": OVERRIDES, "rounds": rounds, "environment": environment.describe_environment()}
  args.out.mkdir(parents=True, exist_ok=True)
  (args.out / "campaign.json").write_text(json.dumps(report, indent=2) + "\n")
  (args.out / "campaign.md").write_text(markdown(report))
  print(markdown(report))
  return 0 if passed(report) else 1


if __name__ == "__main__":
  sys.exit(main())
