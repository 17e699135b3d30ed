"""Long-lived benchmark workers: one process per (framework, case), driven over stdin/stdout by cpu_step.py.

Why: one process per framework keeps each one's threads, allocator and peak RSS its own, and the
parent can interleave "run N steps" requests between the two so machine noise falls on both alike.

    python benchmarks/step_workers.py {jax|torch|torch_convs|pipeline} CASE_JSON

Protocol: the worker builds and warms up, then prints `@@ {"ready": ...}`; for each request line
`{"run": N}` it runs N timed steps and prints `@@ {"seconds": [...]}` (the jax worker adds "counters": the
time its oneDNN convolutions took during those steps); `{"exit": true}` makes it print
`@@ {"peak_rss_mib": ...}` and leave. Other stdout lines are library chatter and are ignored.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

PREFIX = "@@ "
REPO = Path(__file__).resolve().parents[1]

# Every case: the cnnjax registry model and kwargs, one image [H, W, C], the batch, and the
# optimizer both frameworks use (SGD momentum 0.9, L2 weight decay 5e-4 on weights, constant rate).
VGG11_HALF_STAGES = ((32,), (64,), (128, 128), (256, 256), (256, 256))
CASES = {
    "lenet5": {"model": "lenet5", "model_kwargs": {}, "input_shape": (28, 28, 1), "batch": 256,
               "torch_model": "lenet5"},
    "cifar_resnet20": {"model": "cifar_resnet20", "model_kwargs": {}, "input_shape": (32, 32, 3), "batch": 128,
                       "torch_model": "cifar_resnet20", "multi_output_fusion": True},  # as its configs set
    "vgg11_bn_half": {"model": "vgg11_bn", "input_shape": (32, 32, 3), "batch": 128, "torch_model": "vgg11_bn_half",
                      "model_kwargs": {"stages": VGG11_HALF_STAGES, "hidden_size": 512, "pool_size": (1, 1)}},
}
OPTIMIZER = {"learning_rate": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
             "weight_decay_mode": "l2", "scale_by_batch": False}
NUM_CLASSES = 10
SEED = 0


def send(message: dict) -> None:
  print(PREFIX + json.dumps(message), flush=True)


def peak_rss_mib() -> float:
  """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(run_steps, counters=None) -> None:
  """Answers run requests with `run_steps(n) -> [seconds]` until told to exit; with `counters` (a callable
  returning a dict of running totals) each answer also carries how much each total grew during the run."""
  for line in sys.stdin:
    request = json.loads(line)
    if request.get("exit"):
      break
    before = counters() if counters else {}
    answer = {"seconds": run_steps(int(request["run"]))}
    if counters:
      answer["counters"] = {k: v - before[k] for k, v in counters().items()}
    send(answer)
  send({"peak_rss_mib": peak_rss_mib()})


def jax_point(case: dict):
  """The cnnjax.scaling.point config and settings of a case: the runner's real step on one fixed random batch
  (a constant rate unless the case names a schedule), on case["devices"] devices (default 1; the batch is
  the global one) with config.fast_paths = case["fast_paths"] (default "auto")."""
  from cnnjax.scaling import point
  config = point.synthetic_config(
      case["input_shape"], model=case["model"], model_kwargs=case["model_kwargs"], batch_size=case["batch"],
      seed=SEED, dataset={"num_classes": NUM_CLASSES}, optimizer=case.get("optimizer", OPTIMIZER),
      augment=case.get("augment", {}), schedule=case.get("schedule", {"name": "constant"}),
      fast_paths=case.get("fast_paths", "auto"))
  return config, point.Settings(devices=case.get("devices", 1), steps=10 ** 6, warmup_steps=0)


def jax_worker(case: dict, warmup: int) -> None:
  """cnnjax's train_step as the runner compiles it, under whatever XLA_FLAGS / GLIBC_TUNABLES the parent set."""
  import jax

  from cnnjax.analysis import count_multiply_adds
  from cnnjax.scaling import point as point_lib

  start = time.perf_counter()
  point = point_lib.build_point(*jax_point(case))
  build_seconds = time.perf_counter() - start
  first, _ = point_lib.run_steps(point, 1)
  point_lib.run_steps(point, warmup)
  macs = count_multiply_adds(point.training.model, (1, *case["input_shape"]), train=False) * case["batch"]
  send({"ready": {"compile_seconds": point.compile_seconds, "build_seconds": build_seconds,
                  "first_step_seconds": first[0], "multiply_adds": macs,
                  "params": int(sum(leaf.size for leaf in jax.tree.leaves(point.state.params))),
                  "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""),
                  "fast_paths": point.training.fast_paths,
                  "backend": jax.default_backend()}})
  counters = None
  if point.training.fast_paths.get("onednn_convolutions") == "on":
    from cnnjax.kernels import onednn
    counters = onednn.call_totals  # time inside the oneDNN convolutions (benchmarks/step_floor.py)
  serve(lambda n: point_lib.run_steps(point, n)[0], counters)


def _random_batch(batch: int, input_shape, seed: int):
  """cnnjax.data.synthetic.synthetic_batch's draws (same generator; int64 labels for torch), without importing jax.

  With `seed` = SEED + 1 it is the batch the cnnjax worker trains on (synthetic training batch 0).
  """
  import numpy as np
  rs = np.random.RandomState(seed)
  return (rs.standard_normal((batch, *input_shape)).astype(np.float32),
          rs.randint(0, NUM_CLASSES, batch).astype(np.int64))


def torch_worker(case: dict, warmup: int, probe_steps: int, layout: str = "auto") -> None:
  """The PyTorch twin in eager mode on all cores; with layout "auto" it times NCHW and channels_last and keeps
  the faster (both models stay in the peak RSS; name one layout to build only that)."""
  import copy
  import statistics

  import torch

  import torch_reference

  cores = len(os.sched_getaffinity(0))
  torch.set_num_threads(cores)
  torch.manual_seed(SEED)
  images, labels = _random_batch(case["batch"], case["input_shape"], SEED + 1)
  images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
  labels = torch.from_numpy(labels)
  base = torch_reference.build_model(case["torch_model"], NUM_CLASSES, case["input_shape"])
  base.train()
  optimizer_config = case.get("optimizer", OPTIMIZER)

  def timed_steps(model, optimizer, x, n):
    seconds = []
    for _ in range(n):
      start = time.perf_counter()
      torch_reference.train_step(model, optimizer, x, labels)
      seconds.append(time.perf_counter() - start)
    return seconds

  probes = {}
  formats = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
  for name, memory_format in formats.items():
    if layout not in ("auto", name):
      continue
    model = copy.deepcopy(base).to(memory_format=memory_format)
    optimizer = torch_reference.make_optimizer(model, optimizer_config["learning_rate"],
                                               optimizer_config["momentum"], optimizer_config["weight_decay"])
    x = images.contiguous(memory_format=memory_format)
    first = timed_steps(model, optimizer, x, 1)[0]
    timed_steps(model, optimizer, x, warmup)
    probes[name] = {"first_step_seconds": first, "median_seconds": statistics.median(timed_steps(
        model, optimizer, x, probe_steps)), "model": model, "optimizer": optimizer, "x": x}
  layout = min(probes, key=lambda k: probes[k]["median_seconds"])
  chosen = probes[layout]
  send({"ready": {"layout": layout, "first_step_seconds": chosen["first_step_seconds"],
                  "probe_median_seconds": {k: v["median_seconds"] for k, v in probes.items()},
                  "params": sum(p.numel() for p in base.parameters()), "threads": torch.get_num_threads(),
                  "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", ""), "torch": torch.__version__}})
  for other in probes:
    if other != layout:
      probes[other].clear()
  serve(lambda n: timed_steps(chosen["model"], chosen["optimizer"], chosen["x"], n))


def torch_convs_worker(case: dict, warmup: int) -> None:
  """Only the convolutions of the PyTorch twin's training step, channels_last, through the ATen calls its autograd
  makes: each layer's forward, then convolution_backward for the weight (and bias) gradients and the input
  gradient (not the first layer's, whose input needs none), on random data of the step's shapes."""
  import torch
  import torch.nn.functional as F

  import torch_reference

  torch.set_num_threads(len(os.sched_getaffinity(0)))
  torch.manual_seed(SEED)
  model = torch_reference.build_model(case["torch_model"], NUM_CLASSES, case["input_shape"])
  model = model.to(memory_format=torch.channels_last)
  height, width, channels = case["input_shape"]
  images = torch.randn(case["batch"], channels, height, width).contiguous(memory_format=torch.channels_last)
  seen = []
  hooks = [m.register_forward_hook(lambda m, inputs, output: seen.append((m, inputs[0], output)))
           for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
  with torch.no_grad():
    model(images)
  for hook in hooks:
    hook.remove()
  convs = [{"module": m, "x": torch.randn_like(x), "dy": torch.randn_like(y), "input_grad": x is not images}
           for m, x, y in seen]

  def step():
    for c in convs:
      m = c["module"]
      F.conv2d(c["x"], m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
      torch.ops.aten.convolution_backward(
          c["dy"], c["x"], m.weight, None if m.bias is None else [m.bias.shape[0]], m.stride, m.padding, m.dilation,
          False, [0, 0], m.groups, [c["input_grad"], True, m.bias is not None])

  def run(n):
    seconds = []
    with torch.no_grad():
      for _ in range(n):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds

  run(1 + warmup)
  send({"ready": {"convolutions": len(convs), "input_gradients": sum(c["input_grad"] for c in convs),
                  "threads": torch.get_num_threads()}})
  serve(run)


def pipeline_worker(case: dict, warmup: int) -> None:
  """Images/s that cnnjax.data.pipeline delivers for a config's training data (tf.data, no model)."""
  import importlib.util

  from cnnjax.data import pipeline

  spec = importlib.util.spec_from_file_location("bench_config", REPO / case["config"])
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  data = pipeline.make_train_data(config.dataset, config.batch_size, config.seed)
  batches = data.batches(0)
  start = time.perf_counter()
  for _ in range(max(1, warmup)):
    next(batches)
  first_seconds = time.perf_counter() - start
  send({"ready": {"input_shape": list(data.input_shape), "batch": config.batch_size, "model": config.model,
                  "model_kwargs": config.model_kwargs.to_dict(), "augment": config.augment.to_dict(),
                  "optimizer": config.optimizer.to_dict(), "schedule": config.schedule.to_dict(),
                  "steps_per_epoch": data.steps_per_epoch, "warmup_seconds": first_seconds,
                  "multi_output_fusion": config.get("xla_cpu_multi_output_fusion", False)}})

  def run(n):
    seconds = []
    for _ in range(n):
      start = time.perf_counter()
      next(batches)
      seconds.append(time.perf_counter() - start)
    return seconds

  serve(run)


def main(argv: list[str]) -> int:
  kind, case = argv[1], json.loads(argv[2])
  case = {**CASES.get(case.get("name"), {}), **case}  # named cases keep their tuples; others come whole
  warmup = int(case.pop("warmup", 2))
  if kind == "jax":
    jax_worker(case, warmup)
  elif kind == "torch":
    torch_worker(case, warmup, int(case.pop("probe_steps", 5)), case.pop("layout", "auto"))
  elif kind == "pipeline":
    pipeline_worker(case, warmup)
  elif kind == "torch_convs":
    torch_convs_worker(case, warmup)
  else:
    raise SystemExit(f"unknown worker kind {kind!r}; use jax, torch, torch_convs or pipeline")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
