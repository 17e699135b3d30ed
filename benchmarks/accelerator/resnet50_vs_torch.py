"""ResNet-50 training step on one accelerator: cnnjax against torchvision, bfloat16, synthetic data.

    python benchmarks/accelerator/resnet50_vs_torch.py            # lent H100/H200: one call, <= ~7.5 min
    python benchmarks/accelerator/resnet50_vs_torch.py --quick    # CPU proof of the path (tiny, 2 steps)

cnnjax: the runner's real train_step (cnnjax.scaling.point: the default config with model resnet50,
model_kwargs dtype bfloat16, on synthetic data) with bfloat16 compute (float32 parameters). PyTorch: torchvision resnet50, channels_last, autocast bfloat16 and
torch.compile of the model. Both: 224x224x3, batch 256, SGD momentum 0.9 with L2 weight decay 5e-4
on the weights, softmax cross-entropy, one fixed random batch on the device. Each side runs in its
own process (own peak device memory); cnnjax's runs with tensorflow and tensorflow_datasets shadowed
by stubs that raise on import, as on the lent machine where they are missing. It needs ml_collections
(the config schema; pure Python on absl-py and PyYAML), which that machine lacks too: install its
wheel there first (pip download --no-deps ml_collections, then pip install it). Reports images/s,
MFU = 3 x 2 x forward multiply-adds (cnnjax.analysis.count_multiply_adds) per second over the card's
dense bf16 peak, and peak device memory; writes resnet50_vs_torch.json/.md to $OUT (or --out).
--quick: 32x32 images, batch 2, 2 steps, torch.compile off, on CPU; the torch side is skipped with a
message when torchvision is missing.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("tensorflow", "tensorflow_datasets")
# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, matched against the device name in order.
BF16_PEAKS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("A100", 312.0),
              ("L4", 121.0))
TORCHVISION_MISSING = "torchvision is not installed here; the PyTorch side needs it (pip install torchvision)"
OPTIMIZER = {"learning_rate": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
             "weight_decay_mode": "l2", "scale_by_batch": False}


def bf16_peak_tflops(device_name: str) -> float | None:
  """The card's dense bf16 peak from its name (None for CPUs and unknown cards)."""
  return next((peak for key, peak in BF16_PEAKS if key.lower() in device_name.lower()), None)


def jax_side(settings: dict) -> dict:
  """cnnjax's step: cnnjax.scaling.point.run_point with bf16 compute; adds the forward multiply-adds per step."""
  import jax

  from cnnjax.analysis import count_multiply_adds
  from cnnjax.models import get_model
  from cnnjax.scaling import point

  shape = settings["input_shape"]
  config = point.synthetic_config(shape, model="resnet50", model_kwargs={"dtype": "bfloat16"},
                                  batch_size=settings["batch"], dataset={"num_classes": 1000}, optimizer=OPTIMIZER,
                                  schedule={"name": "constant"})
  result = point.run_point(config, point.Settings(devices=1, steps=settings["steps"],
                                                  warmup_steps=settings["warmup"], record_losses=True))
  model = get_model(config.model, num_classes=config.dataset.num_classes, **config.model_kwargs)
  result["forward_multiply_adds"] = count_multiply_adds(model, (1, *shape)) * settings["batch"]
  result["device_name"] = jax.devices()[0].device_kind
  result["step_seconds_list"] = result.pop("step_seconds")
  return result


def torch_side(settings: dict) -> dict:
  """torchvision resnet50: channels_last, autocast bf16, torch.compile (off in --quick)."""
  import resource

  import torch
  from torch.nn import functional as F

  from cnnjax.weights.torch_shim import import_torchvision
  torchvision = import_torchvision()  # imports with the CPU torch too (its C++ ops skipped)

  device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
  torch.manual_seed(0)
  batch, (height, width, channels) = settings["batch"], settings["input_shape"]
  model = torchvision.models.resnet50(num_classes=1000).to(device, memory_format=torch.channels_last)
  decay = [p for p in model.parameters() if p.ndim > 1]
  other = [p for p in model.parameters() if p.ndim <= 1]
  optimizer = torch.optim.SGD([{"params": decay, "weight_decay": OPTIMIZER["weight_decay"]},
                               {"params": other, "weight_decay": 0.0}],
                              lr=OPTIMIZER["learning_rate"], momentum=OPTIMIZER["momentum"])
  forward = torch.compile(model) if settings["compile"] else model
  images = torch.randn(batch, channels, height, width, device=device).contiguous(memory_format=torch.channels_last)
  labels = torch.randint(0, 1000, (batch,), device=device)

  def step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16):
      loss = F.cross_entropy(forward(images), labels)
    loss.backward()
    optimizer.step()
    return loss

  def synchronize():
    if device.type == "cuda":
      torch.cuda.synchronize()

  start = time.perf_counter()
  loss = step()
  synchronize()
  first = time.perf_counter() - start
  for _ in range(settings["warmup"]):
    step()
  synchronize()
  seconds = []
  for _ in range(settings["steps"]):
    start = time.perf_counter()
    loss = step()
    synchronize()
    seconds.append(time.perf_counter() - start)
  if device.type == "cuda":
    peak, kind = torch.cuda.max_memory_allocated(), "torch.cuda.max_memory_allocated"
  else:
    peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak RSS of the process"
  return {"first_step_seconds": first, "step_seconds_list": seconds, "final_loss": float(loss),
          "peak_memory_bytes": int(peak), "peak_memory_kind": kind, "torch_compile": settings["compile"],
          "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
          "torch": torch.__version__, "torchvision": torchvision.__version__,
          "params": sum(p.numel() for p in model.parameters())}


def _blocking_folder(folder: Path) -> str:
  for module in BLOCKED:
    (folder / module).mkdir(parents=True, exist_ok=True)
    (folder / module / "__init__.py").write_text(f"raise ImportError('{module} must not be imported on the "
                                                 "accelerator benchmark path')\n")
  return str(folder)


def run_side(side: str, settings: dict, timeout: float, block: str | None = None) -> dict:
  """One side in a fresh process (`block`: stubs put first on the path); its last stdout line is its JSON."""
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(p for p in (block, str(REPO), env.get("PYTHONPATH", "")) if p)
  if settings["quick"]:
    env["JAX_PLATFORMS"] = "cpu"
  start = time.perf_counter()
  try:
    done = subprocess.run([sys.executable, __file__, "--side", side, "--settings", json.dumps(settings)], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=max(timeout, 1))
  except subprocess.TimeoutExpired:
    return {"error": f"{side} side timed out after {timeout:.0f} s"}
  if done.returncode != 0:
    return {"error": f"{side} side exited with {done.returncode}", "stderr_tail": done.stderr[-3000:]}
  result = json.loads(done.stdout.strip().splitlines()[-1])
  result["process_seconds"] = time.perf_counter() - start
  return result


def summarise(result: dict, batch: int, flops: float | None) -> dict:
  """Adds median step time, images/s, achieved TFLOP/s and MFU where the side ran."""
  seconds = result.get("step_seconds_list")
  if not seconds:
    return result
  median = statistics.median(seconds)
  result.update({"median_step_ms": 1000 * median, "images_per_second": batch / median})
  peak = bf16_peak_tflops(result.get("device_name", ""))
  if flops:
    result["tflops"] = flops / median / 1e12
    result["mfu"] = result["tflops"] / peak if peak else None
    result["bf16_peak_tflops"] = peak
  return result


def markdown(report: dict) -> str:
  lines = [f"ResNet-50 training step, {report['input_shape'][0]}x{report['input_shape'][1]}, batch {report['batch']}, "
           f"bf16 compute, on {report['device_name']} (dense bf16 peak {report['bf16_peak_tflops'] or 'n/a'} TFLOP/s). "
           "Training FLOPs = 3 x 2 x forward multiply-adds.", "",
           "| framework | ms/step | img/s | TFLOP/s | MFU | peak memory GiB | first step / compile s |",
           "|---|---:|---:|---:|---:|---:|---:|"]
  torch_name = "PyTorch (torchvision, channels_last, AMP bf16" + (", torch.compile)" if report["settings"]["compile"]
                                                                 else ", eager)")
  for name, side in (("cnnjax", report["cnnjax"]), (torch_name, report["torch"])):
    if "median_step_ms" not in side:
      lines.append(f"| {name} | {side.get('skipped') or side.get('error')} | | | | | |")
      continue
    mfu = f"{side['mfu']:.1%}" if side.get("mfu") is not None else "n/a"
    first = side.get("compile_seconds", side.get("first_step_seconds"))
    lines.append(f"| {name} | {side['median_step_ms']:.1f} | {side['images_per_second']:,.0f} | "
                 f"{side.get('tflops', 0):.1f} | {mfu} | {side['peak_memory_bytes'] / 2**30:.2f} | {first:.1f} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="CPU check: 32x32, batch 2, 2 steps, no torch.compile")
  parser.add_argument("--out", default=os.environ.get("OUT", "results/accelerator"))
  parser.add_argument("--budget-s", type=float, default=450, help="the whole call, both sides")
  parser.add_argument("--side", choices=("jax", "torch"), help=argparse.SUPPRESS)
  parser.add_argument("--settings", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.side:
    settings = json.loads(args.settings)
    print(json.dumps(jax_side(settings) if args.side == "jax" else torch_side(settings)))
    return 0

  start = time.perf_counter()
  settings = ({"quick": True, "input_shape": [32, 32, 3], "batch": 2, "steps": 2, "warmup": 1, "compile": False}
              if args.quick else
              {"quick": False, "input_shape": [224, 224, 3], "batch": 256, "steps": 20, "warmup": 3, "compile": True})
  with tempfile.TemporaryDirectory() as tmp:
    block = _blocking_folder(Path(tmp))
    jax_result = run_side("jax", settings, min(0.5 * args.budget_s, args.budget_s - 60), block)
    torch_result = {"skipped": TORCHVISION_MISSING}
    if importlib.util.find_spec("torchvision") is not None:
      torch_result = run_side("torch", settings, args.budget_s - (time.perf_counter() - start) - 10)
  macs = jax_result.get("forward_multiply_adds")
  flops = 6 * macs if macs else None
  device_name = jax_result.get("device_name") or torch_result.get("device_name") or "unknown"
  report = {"input_shape": settings["input_shape"], "batch": settings["batch"], "settings": settings,
            "device_name": device_name, "bf16_peak_tflops": bf16_peak_tflops(device_name),
            "training_flops_per_step": flops, "cnnjax": summarise(jax_result, settings["batch"], flops),
            "torch": summarise(torch_result, settings["batch"], flops), "wall_seconds": time.perf_counter() - start}
  report["markdown"] = markdown(report)
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "resnet50_vs_torch.json").write_text(json.dumps(report, indent=2) + "\n")
  (out / "resnet50_vs_torch.md").write_text(report["markdown"] + "\n")
  print(report["markdown"])
  return 0 if "median_step_ms" in report["cnnjax"] else 1


if __name__ == "__main__":
  sys.exit(main())
