"""The Markdown report of a study: ours vs published, curves, configs, environment, timing, determinism.

Everything in it is read from the runs' files (results.json, metrics.jsonl, config.json,
timing.json); `summary.json` holds the same table for README generators.
"""

import json
import math
import statistics
from pathlib import Path

from cnnjax.train import environment
from cnnjax.reproduce import determinism
from cnnjax.reproduce.runs import Run
from cnnjax.reproduce.studies import Row, Study

SECTIONS = ("Results", "Training curves", "Determinism", "Wall time per run", "Environment", "Configs")


def row_summary(study: Study, row: Row, runs: list[Run], quick: bool) -> dict:
  """Mean and standard deviation over seeds of our number, its difference to the paper and the verdict."""
  values = [study.measured(r.test_accuracy) for r in runs]
  mean = statistics.fmean(values)
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  difference = row.difference(mean)
  return {"row": row.name, "label": row.label, "published": row.published, "published_high": row.published_high,
          "tolerance": row.tolerance, "seeds": [r.seed for r in runs], "values": values, "mean": mean, "std": std,
          "difference": difference, "within_tolerance": None if quick else abs(difference) <= row.tolerance,
          "source": row.source}


def _verdict(summary: dict) -> str:
  if summary["within_tolerance"] is None:
    return "not judged (--quick)"
  return "**within**" if summary["within_tolerance"] else "**OUTSIDE**"


def _std_text(summary: dict) -> str:
  return f"{summary['std']:.2f}" if len(summary["values"]) > 1 else "n/a"


def _results_table(study: Study, summaries: list[dict]) -> list[str]:
  unit = "test error (%)" if study.metric == "error" else "test accuracy (%)"
  lines = [f"| model | published {unit} | ours: mean ± std (n) | difference | tolerance | verdict | source |",
           "|---|---|---|---|---|---|---|"]
  for s in summaries:
    published = f"{s['published']:.2f}" + (f"-{s['published_high']:.2f}" if s["published_high"] is not None else "")
    lines.append(f"| {s['label']} | {published} | {s['mean']:.2f} ± {_std_text(s)} ({len(s['values'])}) | "
                 f"{s['difference']:+.2f} | ±{s['tolerance']:.1f} | {_verdict(s)} | {s['source']} |")
  lines.append("")
  lines.append("Per seed: " + "; ".join(
      f"{s['row']} " + ", ".join(f"{v:.2f}" for v in s["values"]) for s in summaries) + ".")
  return lines


def read_metrics(workdir: Path) -> list[dict]:
  """metrics.jsonl records in step order; a resumed run's repeated steps keep their last record."""
  path = workdir / "metrics.jsonl"
  if not path.exists():
    return []
  records = {}
  for line in path.read_text().splitlines():
    if line.strip():
      record = json.loads(line)
      records[record["split"], record["step"]] = record
  return sorted(records.values(), key=lambda r: r["step"])


def plot_curves(study: Study, row: Row, runs: list[Run], path: Path) -> None:
  """Training loss and the test metric against step, one line per seed, from metrics.jsonl; the paper dashed."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, (ax_loss, ax_test) = plt.subplots(1, 2, figsize=(9, 3.5))
  for run in runs:
    records = read_metrics(run.workdir)
    train = [r for r in records if r["split"] == "train" and "loss" in r]
    test = [r for r in records if r["split"] == "test" and "accuracy" in r]
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label=f"seed {run.seed}")
    ax_test.plot([r["step"] for r in test], [study.measured(r["accuracy"]) for r in test], marker=".",
                 label=f"seed {run.seed}")
  if row.published_high is None:
    ax_test.axhline(row.published, color="k", linestyle="--", linewidth=1, label="published")
  else:
    ax_test.axhspan(row.published, row.published_high, color="k", alpha=0.15, label="published range")
  fig.suptitle(row.label, fontsize=10)
  ax_loss.set(title="training loss", xlabel="step", ylabel="cross-entropy")
  ax_test.set(title=f"test {study.metric}", xlabel="step", ylabel="%")
  for ax in (ax_loss, ax_test):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def _determinism_section(pair: tuple[Run, Run] | None) -> list[str]:
  if pair is None:
    return ["No determinism run in this selection of rows."]
  first, repeat = pair
  check = determinism.compare_runs(first.workdir, repeat.workdir)
  backend = first.results.get("environment", {}).get("backend", "?")
  lines = [f"Row `{first.row}`, seed {first.seed}, trained twice (`{first.workdir.name}` and "
           f"`{repeat.workdir.name}`) on backend `{backend}`; compared: every logged training and test metric "
           "in metrics.jsonl and the final results (timing fields excluded).", ""]
  if check.identical:
    lines.append(f"**Identical**: {check.compared} values compared, all bit-for-bit equal.")
  else:
    lines.append(f"**NOT identical**: {len(check.differences)} of {check.compared} values differ; "
                 f"largest absolute difference {check.max_abs_difference:.3g}. First differences:")
    lines += [f"- {d}" for d in check.differences[:5]]
  return lines


def _wall_table(runs: list[Run]) -> list[str]:
  lines = ["| run | steps | wall time (s) | examples/s | params | note |", "|---|---|---|---|---|---|"]
  for run in runs:
    final = run.results["final"]
    wall = f"{run.wall_seconds:.1f}" if run.wall_seconds is not None else "?"
    rate = f"{final['examples_per_second']:.0f}" if final.get("examples_per_second") else "?"
    timing = json.loads((run.workdir / "timing.json").read_text()) if (run.workdir / "timing.json").exists() else {}
    note = "resumed (time of the last part)" if timing.get("resumed") else ""
    lines.append(f"| {run.row}/{run.workdir.name} | {final['steps']} | {wall} | {rate} | {final['params']:,} | {note} |")
  total = sum(r.wall_seconds for r in runs if r.wall_seconds is not None)
  lines += ["", f"Total {total / 60:.1f} min of training and evaluation, measured while this machine was shared "
                "with other jobs (times are upper bounds)."]
  return lines


def _environment(runs: list[Run], report_commit: str | None) -> list[str]:
  envs = {json.dumps(r.results.get("environment", {}), sort_keys=True) for r in runs}
  lines = []
  if len(envs) > 1:
    lines.append(f"The runs recorded {len(envs)} different environments (e.g. commits); the first is shown, "
                 "each run's results.json has its own.")
  env = json.loads(sorted(envs)[0])
  versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
  commits = sorted({r.results.get("environment", {}).get("git_commit") or "?" for r in runs})
  lines += [f"- versions: {versions}", f"- platform: {env.get('platform')} ({env.get('processor')})",
            f"- backend: {env.get('backend')}, devices: {env.get('device_count')} x {env.get('device_kind')}, "
            f"processes: {env.get('process_count')}",
            f"- git commit(s) of the runs (recorded when each run finished): {', '.join(f'`{c}`' for c in commits)}; "
            f"report written at `{report_commit}`"]
  if any(c.endswith("-dirty") for c in commits + [report_commit or ""]):
    lines.append("- \"-dirty\": the working tree had uncommitted changes at that moment.")
  return lines


def _configs(study: Study, rows: list[Row], by_row: dict[str, list[Run]], quick: bool) -> list[str]:
  lines = []
  for row in rows:
    run = by_row[row.name][0]
    overrides = dict(row.overrides) | (dict(study.quick_overrides) if quick else {})
    lines += [f"### {row.label}", f"`configs/{row.config}`" + (f" with overrides `{overrides}`" if overrides else "")
              + f"; seeds {', '.join(str(r.seed) for r in by_row[row.name])} set `seed`. Resolved config "
              f"(`{run.workdir.relative_to(run.workdir.parents[2])}/config.json`):", "",
              "<details><summary>config.json</summary>", "", "```json",
              (run.workdir / "config.json").read_text().strip(), "```", "", "</details>", ""]
  return lines


def _seeds_text(seeds: int) -> str:
  return "seed 0" if seeds == 1 else f"seeds 0..{seeds - 1}"


def write_report(study: Study, out: Path, runs: list[Run], pair: tuple[Run, Run] | None, *, seeds: int,
                 quick: bool, full: bool, command: str) -> Path:
  """Writes out/README.md, out/summary.json and out/curves_<row>.png; returns the README path."""
  out = Path(out)
  report_commit = environment.git_commit()  # before this report's own files change the tree
  rows = list(study.selected_rows(full))
  by_row = {row.name: [r for r in runs if r.row == row.name] for row in rows}
  summaries = [row_summary(study, row, by_row[row.name], quick) for row in rows]
  lines = [f"# {study.title}", "", f"Produced by `{command}` ({_seeds_text(seeds)}). Reference: {study.reference}", ""]
  if quick:
    lines += ["> **Quick run**: a few training steps per run, to check the pipeline end to end. The numbers "
              "below were measured but are not comparable to the published ones.", ""]
  if study.notes:
    lines += [study.notes, ""]
  lines += ["## Results", ""] + _results_table(study, summaries)
  judged = [s for s in summaries if s["within_tolerance"] is not None]
  if judged:
    inside = sum(s["within_tolerance"] for s in judged)
    lines += ["", f"{inside} of {len(judged)} rows within tolerance."]
  lines += ["", "## Training curves", ""]
  for row in rows:
    name = f"curves_{row.name}.png"
    plot_curves(study, row, by_row[row.name], out / name)
    lines += [f"![{row.label}]({name})", ""]
  lines += ["## Determinism", ""] + _determinism_section(pair) + [""]
  lines += ["## Wall time per run", ""] + _wall_table(runs + ([pair[1]] if pair else [])) + [""]
  lines += ["## Environment", ""] + _environment(runs, report_commit) + [""]
  lines += ["## Configs", ""] + _configs(study, rows, by_row, quick)
  path = out / "README.md"
  path.write_text("\n".join(lines).rstrip() + "\n")
  summary = {"study": study.name, "metric": study.metric, "quick": quick, "seeds": seeds, "command": command,
             "rows": summaries, "determinism": None}
  if pair is not None:
    check = determinism.compare_runs(pair[0].workdir, pair[1].workdir)
    summary["determinism"] = {"row": pair[0].row, "seed": pair[0].seed, "identical": check.identical,
                              "compared": check.compared, "max_abs_difference": check.max_abs_difference}
  (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_finite) + "\n")
  return path


def _finite(value):
  return None if isinstance(value, float) and not math.isfinite(value) else value
