"""Regenerates the README's results tables from results/*/results.json, results/segmentation/*/results.json
and results/fine_tuning/*/results.json (the recorded runs; also the table of results/fine_tuning/README.md),
its "CPU speed vs PyTorch" table from benchmarks/results/cpu_step.json (benchmarks/cpu_step.py), the compile
cold-vs-warm table from benchmarks/results/compile_cache.json (benchmarks/compile_cache.py), the
time-to-accuracy table from benchmarks/results/time_to_accuracy.json (benchmarks/time_to_accuracy.py; a line
saying how to record it while the file is missing), the crash campaign's summary from
results/crash_campaign/campaign.md (scripts/crash_campaign.py), and the Weights parity table from
results/weights/parity.json (experiments/weights/parity_table.py).

    .venv/bin/python scripts/update_readme.py

Rows come only from files produced by runs; nothing is typed by hand.
"""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
CPU_START, CPU_END = "<!-- cpu-speed:start -->", "<!-- cpu-speed:end -->"
CPU_AVX2_START, CPU_AVX2_END = "<!-- cpu-speed-avx2:start -->", "<!-- cpu-speed-avx2:end -->"
FLOOR_START, FLOOR_END = "<!-- step-floor:start -->", "<!-- step-floor:end -->"
SEG_START, SEG_END = "<!-- segmentation:start -->", "<!-- segmentation:end -->"
CONV_START, CONV_END = "<!-- conv-kernels:start -->", "<!-- conv-kernels:end -->"
ALGORITHMS_START, ALGORITHMS_END = "<!-- conv-algorithms:start -->", "<!-- conv-algorithms:end -->"
FT_START, FT_END = "<!-- fine-tuning:start -->", "<!-- fine-tuning:end -->"
CRASH_START, CRASH_END = "<!-- crash-campaign:start -->", "<!-- crash-campaign:end -->"
WEIGHTS_START, WEIGHTS_END = "<!-- weights:start -->", "<!-- weights:end -->"
DET_START, DET_END = "<!-- detection:start -->", "<!-- detection:end -->"
DETECTION = REPO / "results" / "detection"  # recorded detector runs; speed.json from experiments/detection
WEIGHTS_RESULTS = REPO / "results" / "weights" / "parity.json"
CRASH_RESULTS = REPO / "results" / "crash_campaign" / "campaign.md"
CONV_RESULTS = REPO / "benchmarks" / "results" / "conv_kernels.json"
ALGORITHMS_RESULTS = REPO / "benchmarks" / "results" / "conv_algorithms.json"
ALGORITHMS_AVX2_RESULTS = REPO / "benchmarks" / "results" / "conv_algorithms_avx2.json"  # under the AVX2 caps
CPU_RESULTS = REPO / "benchmarks" / "results" / "cpu_step.json"
COMPILE_START, COMPILE_END = "<!-- compile-cache:start -->", "<!-- compile-cache:end -->"
COMPILE_RESULTS = REPO / "benchmarks" / "results" / "compile_cache.json"
CPU_COMMAND = "PYTHONPATH=. .venv/bin/python benchmarks/cpu_step.py --steps 20 --rounds 3 --processes 3"
CPU_AVX2_RESULTS = REPO / "benchmarks" / "results" / "cpu_step_avx2.json"
AVX2 = "ONEDNN_MAX_CPU_ISA=AVX2 XLA_FLAGS=--xla_cpu_max_isa=AVX2 "  # emulates an AVX2-only CPU
CPU_AVX2_COMMAND = f"{AVX2}{CPU_COMMAND} --out benchmarks/results/cpu_step_avx2.json"
FLOOR_RESULTS = REPO / "benchmarks" / "results" / "step_floor.json"
FLOOR_AVX2_RESULTS = REPO / "benchmarks" / "results" / "step_floor_avx2.json"
FLOOR_COMMAND = "PYTHONPATH=. .venv/bin/python benchmarks/step_floor.py"
TTA_START, TTA_END = "<!-- time-to-accuracy:start -->", "<!-- time-to-accuracy:end -->"
TTA_RESULTS = REPO / "benchmarks" / "results" / "time_to_accuracy.json"
TTA_COMMAND = "PYTHONPATH=. .venv/bin/python benchmarks/time_to_accuracy.py --seeds 0,1,2"


def _row(path: Path) -> str | None:
  results = json.loads(path.read_text())
  final, config, env = results["final"], results["config"], results["environment"]
  accuracy = next((v for k, v in final.items() if k.endswith("_accuracy") and k != "train_accuracy"), None)
  if accuracy is None:
    return None
  split = config["dataset"]["eval_split"]
  speed = final.get("examples_per_second")
  return (f"| [{path.parent.name}]({path.parent.relative_to(REPO)}/results.json) | {config['model']} | "
          f"{config['dataset']['name']} | {final['params']:,} | {final['epochs']:.0f} | {split} {accuracy:.2%} | "
          f"{speed:,.0f} | {env['device_kind']} x{env['device_count']} | {str(env.get('git_commit'))[:12]} |")


FINE_TUNING = REPO / "results" / "fine_tuning"  # the classifier and the FCN twins (results/fine_tuning/README.md)


def _is_segmentation(path: Path) -> bool:
  return "test_mean_iou" in json.loads(path.read_text()).get("final", {})


def results_table() -> str:
  paths = [*sorted((REPO / "results").glob("*/results.json")),
           *(p for p in sorted(FINE_TUNING.glob("*/results.json")) if not _is_segmentation(p))]
  rows = [r for p in paths if (r := _row(p))]
  header = ("| run | model | dataset | params | epochs | accuracy | train img/s | devices | commit |\n"
            "|---|---|---|---:|---:|---:|---:|---|---|")
  return "\n".join([header, *rows])


def _start(results: dict) -> str:
  """How a run's variables started: 'scratch', or the run config.init_from named (the folder's name)."""
  source = results["config"].get("init_from")
  return f"{Path(source).name} ({results['config'].get('init_from_convert') or 'as saved'})" if source else "scratch"


def segmentation_table() -> str:
  """One row per recorded segmentation run: how it started, test mean IoU and pixel accuracy, with its overlay."""
  rows = []
  for path in [*sorted((REPO / "results" / "segmentation").glob("*/results.json")),
               *sorted(FINE_TUNING.glob("*/results.json"))]:
    results = json.loads(path.read_text())
    if "test_mean_iou" not in results.get("final", {}):
      continue  # e.g. classical/results.json, the validation of the classical methods
    final, config = results["final"], results["config"]
    folder = path.parent.relative_to(REPO)
    overlay = f"[overlay]({folder}/overlay.png)" if (path.parent / "overlay.png").exists() else ""
    size = config["dataset"].get("image_size")
    rows.append(f"| [{path.parent.name}]({folder}/results.json) | {config['model']} | {config['dataset']['name']}, "
                f"{f'{size}x{size}' if size else 'native size'} | {_start(results)} | {final['params']:,} | {final['steps']:,} | "
                f"{final['test_mean_iou']:.4f} | {final['test_accuracy']:.4f} | {overlay} | "
                f"{str(results['environment'].get('git_commit'))[:12]} |")
  header = ("| run | model | dataset, size | start | params | steps | test mean IoU | test pixel accuracy | sample | commit |\n"
            "|---|---|---|---|---:|---:|---:|---:|---|---|")
  return "\n".join([header, *rows])


def _percent(value) -> str:
  return "-" if value is None else f"{value:.4f}"


def detection_table() -> str:
  """One row per recorded detector run: COCO metrics by pycocotools on its eval split, train and detect speed."""
  speed_path = DETECTION / "speed.json"
  speeds = json.loads(speed_path.read_text())["runs"] if speed_path.exists() else {}
  rows = []
  for path in sorted(DETECTION.glob("*/results.json")):
    results = json.loads(path.read_text())
    final, config = results["final"], results["config"]
    split = "".join(ch if ch.isalnum() else "_" for ch in config["dataset"]["eval_split"])
    if f"{split}_map50" not in final:
      continue
    speed = speeds.get(path.parent.name, {})
    detect = f"{speed['images_per_second']:.1f}" if speed else "-"
    rows.append(f"| [{path.parent.name}]({path.parent.relative_to(REPO)}/results.json) | {config['model']} | "
                f"{config['dataset']['name']} | {final['params']:,} | {final['steps']:,} | "
                f"{_percent(final[f'{split}_map'])} | {_percent(final[f'{split}_map50'])} | "
                f"{_percent(final[f'{split}_map75'])} | {_percent(final[f'{split}_ar100'])} | "
                f"{final['examples_per_second']:.0f} | {detect} | {str(results['environment'].get('git_commit'))[:12]} |")
  header = ("| run | model | dataset | params | steps | mAP@[.5:.95] | mAP@.5 | mAP@.75 | AR@100 | train img/s "
            "| detect img/s | commit |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
  return "\n".join([header, *rows])


def fine_tuning_table() -> str:
  """results/fine_tuning/README.md's table: the classifier and the FCN twins, with how each started."""
  rows = []
  for path in sorted(FINE_TUNING.glob("*/results.json")):
    results = json.loads(path.read_text())
    final, config = results["final"], results["config"]
    iou = final.get("test_mean_iou")
    rows.append(f"| [{path.parent.name}]({path.parent.name}/results.json) | {config['model']} | "
                f"{config['dataset']['name']} | {_start(results)} | {final['steps']:,} | {final['test_accuracy']:.4f} | "
                f"{'' if iou is None else f'{iou:.4f}'} | {final['examples_per_second']:.1f} | "
                f"{str(results['environment'].get('git_commit'))[:12]} |")
  header = ("| run | model | dataset | start | steps | test accuracy (pixels for FCN) | test mean IoU | train img/s "
            "| commit |\n|---|---|---|---|---:|---:|---:|---:|---|")
  return "\n".join([header, *rows])


def _blocks_text(measured: dict) -> str:
  """What cnnjax.fast chose for one measured model; runs recorded before it say only oneDNN's state."""
  fast = measured.get("fast_paths")
  if fast is None:
    return f"oneDNN {measured.get('onednn_convolutions', 'off')}"
  chosen = [f"{field} {fast[field]}" for field in ("conv", "norm_act", "max_pool") if field in fast]
  kernels = [f"{name} {fast[key]}" for name, key in (("oneDNN", "onednn_convolutions"),
                                                      ("batch-norm kernels", "batch_norm_kernels"),
                                                      ("max-pool kernels", "max_pool_kernels"),
                                                      ("Winograd", "winograd_convolutions")) if key in fast]
  return f"{' + '.join(chosen)} ({', '.join(kernels) or 'oneDNN off'})"


def cpu_speed_section(path: Path = CPU_RESULTS, command: str = CPU_COMMAND) -> str:
  """The cnnjax-vs-PyTorch step table of benchmarks/cpu_step.py's JSON, or how to produce it."""
  if not path.exists():
    return (f"No measurement recorded yet: run `{command}` on a quiet machine (it writes "
            f"`{path.relative_to(REPO) if path.is_relative_to(REPO) else path}`), then `scripts/update_readme.py`.")
  results = json.loads(path.read_text())
  versions = results["versions"]
  flags_origin = (" (XLA flags overridden by --xla-flags)" if results.get("xla_flags_override") is not None
                  else " as the `cnnjax` command sets them")
  header = (f"Measured by `{results['command']}` at commit {str(results.get('git_commit'))[:12]} "
            f"(jax {versions.get('jax')}, flax {versions.get('flax')}, torch {versions.get('torch')}, "
            f"Python {versions.get('python')}); cnnjax's environment per model{flags_origin}: "
            + "; ".join(f"{name} `XLA_FLAGS=\"{env['XLA_FLAGS']}\"` `GLIBC_TUNABLES={env.get('GLIBC_TUNABLES') or '(none)'}`"
                        for name, env in results["cnnjax_env"].items()) + "; "
            + "scratch cache: " + ", ".join(f"{name} {'on' if 'scratch_cache' in env.get('LD_PRELOAD', '') else 'off'}"
                                            for name, env in results["cnnjax_env"].items()) + "; "
            + "fast blocks (cnnjax.fast.blocks): " + ", ".join(f"{row['model']} {_blocks_text(row['cnnjax'])}"
                                                                for row in results["models"]) + ". "
            f"Median of {results['steps'] * results['rounds'] * results.get('processes', 1)} steps per framework: "
            f"{results.get('processes', 1)} fresh worker processes each, {results['rounds']} interleaved rounds of "
            f"{results['steps']} steps per process (ratio range over rounds in brackets); one fixed random batch; "
            "SGD momentum 0.9 + L2 weight decay. "
            f"Reproduce: `{command}` then `scripts/update_readme.py`.")
  return f"{header}\n\n{results['markdown']}"


def step_floor_section(paths=(FLOOR_RESULTS, FLOOR_AVX2_RESULTS)) -> str:
  """The convolutions-vs-budget tables of benchmarks/step_floor.py's JSONs (native ISA, AVX2 emulated)."""
  parts = []
  for path, prefix in zip(paths, ("", AVX2)):
    if not path.exists():
      parts.append(f"No measurement recorded yet: run `{prefix}{FLOOR_COMMAND} --out "
                   f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}`.")
      continue
    results = json.loads(path.read_text())
    versions = results["versions"]
    parts.append(f"Measured by `{results['command'].strip()}` at commit {str(results.get('git_commit'))[:12]} (jax "
                 f"{versions.get('jax')}, torch {versions.get('torch')}); {results['rounds']} interleaved rounds of "
                 f"{results['steps']} steps per worker.\n\n{results['markdown']}")
  return "\n\n".join(parts)


def conv_kernels_section(path: Path = CONV_RESULTS) -> str:
  """The lax-vs-oneDNN convolution table of benchmarks/conv_kernels.py's JSON, or how to produce it."""
  if not path.exists():
    return "No measurement recorded yet: run `PYTHONPATH=. .venv/bin/python benchmarks/conv_kernels.py`."
  results = json.loads(path.read_text())
  versions = results["versions"]
  return (f"Measured by `{results['command'].strip()}` at commit {str(results.get('git_commit'))[:12]} (jax "
          f"{versions.get('jax')}; `XLA_FLAGS=\"{results['XLA_FLAGS']}\"`), median of {results['repeats']} calls:"
          f"\n\n{results['markdown']}")


def conv_algorithms_section(paths: tuple[Path, ...] = (ALGORITHMS_RESULTS, ALGORITHMS_AVX2_RESULTS)) -> str:
  """The direct-vs-Winograd tables of benchmarks/conv_algorithms.py's JSONs (native, then under the AVX2 caps),
  or how to produce them."""
  tables = []
  for path in paths:
    if not path.exists():
      continue
    results = json.loads(path.read_text())
    limits = " ".join(f"{k}={v}" for k, v in results["isa_limits"].items() if v)
    tables.append(f"Measured by `{(limits + ' ') if limits else ''}{results['command'].strip()}` at commit "
                  f"{str(results.get('git_commit'))[:12]} (Winograd {results['winograd_status']}), median over "
                  f"{results['rounds']} interleaved rounds of the median of {results['repeats']} calls:"
                  f"\n\n{results['markdown']}")
  if not tables:
    return "No measurement recorded yet: run `PYTHONPATH=. .venv/bin/python benchmarks/conv_algorithms.py`."
  return "\n\n".join(tables)


def compile_cache_section(path: Path = COMPILE_RESULTS) -> str:
  """The cold-vs-warm compile table of benchmarks/compile_cache.py's JSON, or how to produce it."""
  if not path.exists():
    return "No measurement recorded yet: run `PYTHONPATH=. .venv/bin/python benchmarks/compile_cache.py`."
  results = json.loads(path.read_text())
  versions, cpu = results["versions"], results["machine"]
  load = ", ".join(f"{a:.1f}" for a in results["load_average_before"])
  note = f" {results['note'].rstrip('.')}." if results.get("note") else ""
  return (f"Measured by `{results['command'].strip()}` at commit {str(results.get('git_commit'))[:12]} (jax "
          f"{versions.get('jax')}, {cpu.get('model', 'CPU')}, {cpu.get('cores', '?')} cores, load average {load} "
          f"before).{note} Each number is from a fresh process; the warm one's first step equals the cold one's bit "
          "for bit (loss and sum of the parameters). Lowering (tracing to StableHLO) is not cached, and process "
          f"seconds include Python's imports and the first step.\n\n{results['markdown']}")


def time_to_accuracy_section(path: Path = TTA_RESULTS) -> str:
  """The cnnjax-vs-PyTorch time-to-accuracy table of benchmarks/time_to_accuracy.py's JSON, or how to produce it."""
  if not path.exists():
    return (f"No recording yet: run `{TTA_COMMAND}` on a quiet machine (about 30 minutes per seed for the two runs; it writes "
            f"`{path.relative_to(REPO) if path.is_relative_to(REPO) else path}`), then `scripts/update_readme.py`.")
  results = json.loads(path.read_text())
  versions, cpu = results["versions"], results["machine"]
  load = ", ".join(f"{a:.1f}" for a in results["load_average_before"])
  note = f" {results['note'].rstrip('.')}." if results.get("note") else ""
  stop = "each run finished its epochs" if results.get("run_to_end") else "each run stopped at the target"
  return (f"Measured by `{results['command']}` at commit {str(results.get('git_commit'))[:12]} (jax "
          f"{versions.get('jax')}, torch {versions.get('torch')}, {cpu.get('model', 'CPU')}, {cpu.get('cores', '?')} "
          f"cores, load average {load} before).{note} Seconds from launching the process to the first evaluation at "
          f"test accuracy >= {results['target']:.2%} (planned epochs: {results['epochs']:g}; "
          f"{results['train_examples']:,} training and {results['test_examples']:,} test images; {stop}); "
          "cnnjax starts with an empty compilation cache.\n\n" + results["markdown"])


def weights_section(path: Path = WEIGHTS_RESULTS) -> str:
  """One row per converted pair: cnnjax model, reference, input and eval/train max relative difference."""
  if not path.exists():
    return "No measurement recorded yet: run `PYTHONPATH=. .venv/bin/python experiments/weights/parity_table.py`."
  results = json.loads(path.read_text())
  rows = [f"| {r['model']} | {r['source']} `{r['name']}` | {'x'.join(map(str, r['input_shape']))} | "
          f"{r['eval_relative']:.1e} | {r['train_relative_float64']:.1e} | {r['train_relative']:.1e} | "
          f"{r['torch_train_noise']:.1e} |" for r in results["pairs"]]
  envs = {(str(r["environment"]["git_commit"])[:12], r["environment"]["versions"]["jax"],
           r["environment"]["versions"]["torch"], r["environment"]["versions"]["torchvision"],
           r["environment"]["versions"]["timm"], r["environment"]["cpu"]) for r in results["pairs"]}
  measured = "; ".join(f"commit {c}, jax {j}, torch {t}, torchvision {tv}, timm {tm}, {cpu}"
                       for c, j, t, tv, tm, cpu in sorted(envs))
  header = ("| cnnjax model | reference | input NxHxWxC | eval | train, float64 | train, float32 | "
            "torch's own float32 train error |\n|---|---|---|---:|---:|---:|---:|")
  return (f"Measured by `{results['command']}` ({measured}): max |logits_cnnjax - logits_torch| / "
          "max |logits_torch| for a randomly initialised reference with random batch-norm statistics, "
          "converted. Eval: float32, running statistics. Train: batch statistics, in float64 on both sides "
          "and in float32; the last column is torch's float32 logits against its float64 ones, the floor of "
          "any float32 comparison (deep networks on a batch this small are ill-conditioned in train mode). "
          "The tests require eval and float64 train <= 1e-4 (`tests/weights/`).\n\n" + "\n".join([header, *rows]))


def _replace(text: str, start: str, end: str, body: str) -> str:
  pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
  if not pattern.search(text):
    raise ValueError(f"README.md lacks the markers {start} ... {end}; add them where the table belongs")
  return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


def main() -> None:
  readme = REPO / "README.md"
  text = _replace(readme.read_text(), START, END, results_table())
  text = _replace(text, SEG_START, SEG_END, segmentation_table())
  text = _replace(text, DET_START, DET_END, detection_table())
  text = _replace(text, CPU_START, CPU_END, cpu_speed_section())
  text = _replace(text, CPU_AVX2_START, CPU_AVX2_END, cpu_speed_section(CPU_AVX2_RESULTS, CPU_AVX2_COMMAND))
  text = _replace(text, FLOOR_START, FLOOR_END, step_floor_section())
  text = _replace(text, CONV_START, CONV_END, conv_kernels_section())
  text = _replace(text, ALGORITHMS_START, ALGORITHMS_END, conv_algorithms_section())
  text = _replace(text, COMPILE_START, COMPILE_END, compile_cache_section())
  text = _replace(text, TTA_START, TTA_END, time_to_accuracy_section())
  text = _replace(text, WEIGHTS_START, WEIGHTS_END, weights_section())
  if CRASH_RESULTS.exists():  # scripts/crash_campaign.py writes it
    summary = CRASH_RESULTS.read_text().split("\n\n")[:2]  # the heading line and the summary table
    text = _replace(text, CRASH_START, CRASH_END, "\n\n".join(summary).strip())
  readme.write_text(text)
  fine_tuning = FINE_TUNING / "README.md"
  if fine_tuning.exists():
    fine_tuning.write_text(_replace(fine_tuning.read_text(), FT_START, FT_END, fine_tuning_table()))


if __name__ == "__main__":
  main()
