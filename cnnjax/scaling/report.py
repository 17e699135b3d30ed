"""A scaling study's plan and report: which points to run, scaling efficiencies, table and plot.

Weak scaling keeps the per-device batch and adds devices (ideal: throughput grows with the
device count); strong scaling keeps the global batch and splits it over more devices (ideal:
step time falls with the device count). Both efficiencies are (images/s per device) relative to
the series' point with the fewest devices, so 1.0 is perfect scaling.
"""

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

CPU_NOTE = ("Backend cpu: each point simulates its devices with "
            "XLA_FLAGS=--xla_force_host_platform_device_count=K, and all K simulated devices share this "
            "machine's {cpus} CPU core(s). More devices therefore split the same cores: these numbers measure the "
            "overhead of partitioning the step (collectives, smaller per-device work), not hardware speedup. On GPUs "
            "or TPUs the same command measures real scaling.")


def plan_points(devices: Sequence[int], per_device_batches: Sequence[int],
                global_batches: Sequence[int]) -> list[tuple[int, int]]:
  """(devices, per-device batch) pairs: the weak-scaling grid plus, for each global batch, its strong series.

  A global batch that a device count does not divide is skipped for that count.
  """
  points = [(d, b) for b in per_device_batches for d in devices]
  for g in global_batches:
    points += [(d, g // d) for d in devices if g % d == 0 and g // d > 0]
  return sorted(set(points))


def _efficiencies(points: list[dict], key, field: str, keep) -> None:
  series: dict[int, list[dict]] = {}
  for p in points:
    if p.get("images_per_second") and keep(p):
      series.setdefault(key(p), []).append(p)
  for members in series.values():
    base = min(members, key=lambda p: p["devices"])
    per_device = base["images_per_second"] / base["devices"]
    for p in members:
      p[field] = (p["images_per_second"] / p["devices"]) / per_device


def add_efficiencies(points: list[dict], per_device_batches: Sequence[int], global_batches: Sequence[int]) -> None:
  """Adds weak_efficiency (series of equal per-device batch) and strong_efficiency (equal global batch)."""
  _efficiencies(points, lambda p: p["per_device_batch"], "weak_efficiency",
                lambda p: p["per_device_batch"] in per_device_batches)
  _efficiencies(points, lambda p: p["global_batch"], "strong_efficiency",
                lambda p: p["global_batch"] in global_batches)


def _fmt(value, spec: str) -> str:
  return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def markdown_report(study: dict) -> str:
  """The study as Markdown: what ran where, then one row per point."""
  lines = [f"# Scaling study: {study['model']}", "",
           f"Backend `{study['backend']}` ({study['device_kind']}), {study['host_cpus']} host CPU core(s); "
           f"input {'x'.join(map(str, study['input_shape']))}, batch norm `{study['batch_norm_stats']}`, "
           f"{study['steps']} timed steps after compilation and {study['warmup_steps']} warm-up steps, "
           "synthetic data already on the devices (no input pipeline in the timing).", ""]
  if study["backend"] == "cpu":
    lines += ["**" + CPU_NOTE.format(cpus=study["host_cpus"]) + "**", ""]
  loads = [p["load_average_1min"] for p in study["points"] if p.get("load_average_1min") is not None]
  if loads:
    lines += [f"Host 1-minute load average when the points ran: {min(loads):.1f} to {max(loads):.1f} "
              f"(on {study['host_cpus']} core(s); above that, other jobs shared the machine and the timings are "
              "correspondingly noisy).", ""]
  lines += [f"Command: `{study['command']}`", "",
            "| devices | per-device batch | global batch | step ms (median) | compile s | images/s "
            "| peak memory MiB | weak eff. | strong eff. |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for p in study["points"]:
    if "error" in p:
      lines.append(f"| {p['devices']} | {p['per_device_batch']} | {p['devices'] * p['per_device_batch']} "
                   f"| failed: {p['error'][:80]} | | | | | |")
      continue
    lines.append(
        f"| {p['devices']} | {p['per_device_batch']} | {p['global_batch']} "
        f"| {_fmt(1e3 * p['step_seconds_median'], '.1f')} | {_fmt(p['compile_seconds'], '.1f')} "
        f"| {_fmt(p['images_per_second'], '.0f')} | {_fmt(p['peak_memory_bytes'] / 2**20, '.0f')} "
        f"| {_fmt(p.get('weak_efficiency'), '.2f')} | {_fmt(p.get('strong_efficiency'), '.2f')} |")
  lines += ["", "Weak efficiency: images/s per device relative to the fewest-device point of the same per-device "
            "batch. Strong efficiency: the same for a fixed global batch. 1.00 is perfect scaling. "
            f"Peak memory: {study['points'][0].get('peak_memory_kind', '?') if study['points'] else '?'}."]
  if study.get("plot"):
    lines += ["", f"![throughput and efficiency against devices]({study['plot']})"]
  return "\n".join(lines) + "\n"


def plot(study: dict, path) -> bool:
  """Throughput and efficiency against devices (log2 axis); returns False when matplotlib is missing."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    return False
  points = [p for p in study["points"] if p.get("images_per_second")]
  fig, (ax_tp, ax_eff) = plt.subplots(1, 2, figsize=(11, 4.2))
  series = [("weak_efficiency", "per_device_batch", "per-device batch {}", "-", "o"),
            ("strong_efficiency", "global_batch", "global batch {} (strong)", "--", "s")]
  for field, key, label, style, marker in series:
    for value in sorted({p[key] for p in points if field in p}):
      members = sorted((p for p in points if field in p and p[key] == value), key=lambda p: p["devices"])
      devices = [p["devices"] for p in members]
      line, = ax_tp.plot(devices, [p["images_per_second"] for p in members], style, marker=marker,
                         label=label.format(value))
      base = members[0]
      ax_tp.plot(devices, [base["images_per_second"] * d / base["devices"] for d in devices], ":",
                 color=line.get_color(), alpha=0.5)
      ax_eff.plot(devices, [p[field] for p in members], style, marker=marker, color=line.get_color(),
                  label=label.format(value))
  ax_eff.axhline(1.0, color="grey", lw=0.8)
  ticks = sorted({p["devices"] for p in points})
  for ax in (ax_tp, ax_eff):
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("devices")
    ax.grid(alpha=0.3)
  ax_tp.set_ylabel("images / s (dotted: ideal)")
  ax_eff.set_ylabel("scaling efficiency")
  ax_eff.set_ylim(bottom=0)
  ax_eff.legend(fontsize=8)
  title = f"{study['model']} on {study['backend']} ({study['device_kind']})"
  if study["backend"] == "cpu":
    title += f": simulated devices sharing {study['host_cpus']} core(s)"
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return True


def write_report(study: dict, out) -> None:
  """Writes scaling.png (if matplotlib is present), scaling.json and scaling.md into `out`."""
  out = Path(out)
  study["plot"] = "scaling.png" if plot(study, out / "scaling.png") else None
  (out / "scaling.json").write_text(json.dumps(study, indent=2) + "\n")
  (out / "scaling.md").write_text(markdown_report(study))


if __name__ == "__main__":  # python -m cnnjax.scaling.report DIR: redraws table and plot from DIR/scaling.json
  folder = Path(sys.argv[1])
  write_report(json.loads((folder / "scaling.json").read_text()), folder)
