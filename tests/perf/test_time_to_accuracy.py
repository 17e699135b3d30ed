"""benchmarks/time_to_accuracy.py and its PyTorch side, benchmarks/torch_fashion_mnist.py.

The torch script must train configs/fashion_mnist_resnet20.py's recipe: the same numbers, the learning rate
cnnjax's optax schedule gives at every step, weight decay on the same parameters, the same SGD update, and the
flip + pad-and-crop augmentation. The benchmark runs end to end on a tiny slice (one step each).
"""

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from cnnjax.data import augment as cnnjax_augment
from cnnjax.models import get_model
from cnnjax.train import config as config_lib
from cnnjax.train import optim

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import torch_fashion_mnist  # noqa: E402  pylint: disable=wrong-import-position

RECIPE = torch_fashion_mnist.RECIPE
STEPS_PER_EPOCH = 60_000 // 128  # 468: cnnjax drops the last partial batch


@pytest.fixture(scope="module")
def config():
  return importlib.import_module("configs.fashion_mnist_resnet20").get_config()


def test_recipe_is_the_configs(config):
  assert (config.model, config.model_kwargs.stem_stride) == (RECIPE["model"], 1)
  assert (config.batch_size, config.eval_batch_size, config.num_epochs) == (
      RECIPE["batch_size"], RECIPE["eval_batch_size"], RECIPE["num_epochs"])
  opt = config.optimizer
  assert (opt.learning_rate, opt.momentum, opt.nesterov, opt.weight_decay, opt.weight_decay_mode,
          opt.scale_by_batch) == (RECIPE["learning_rate"], RECIPE["momentum"], RECIPE["nesterov"],
                                  RECIPE["weight_decay"], "l2", False)
  assert (config.schedule.name, config.schedule.warmup_epochs) == ("cosine", RECIPE["warmup_epochs"])
  assert (tuple(config.dataset.mean), tuple(config.dataset.std)) == ((RECIPE["mean"],), (RECIPE["std"],))
  assert config.augment.to_dict() == {"flip": {}, "crop": {"padding": RECIPE["crop_padding"]}}
  assert config.eval_every_epochs == 1.0
  flip_default = cnnjax_augment.random_flip.__defaults__[0]
  assert flip_default == RECIPE["flip_probability"]


def test_learning_rate_of_every_step_is_cnnjaxs(config):
  """The torch optimizer's rate before each of the 7,020 updates equals optax's schedule at that step count."""
  total = config_lib.total_train_steps(config, STEPS_PER_EPOCH)
  schedule = optim.make_schedule(config.schedule, optim.base_learning_rate(config.optimizer, config.batch_size),
                                 STEPS_PER_EPOCH, total)
  expected = np.asarray(jax.vmap(schedule)(jnp.arange(total)))
  model = torch.nn.Linear(2, 2)
  optimizer, scheduler = torch_fashion_mnist.make_optimizer(model, STEPS_PER_EPOCH, total)
  rates = []
  for _ in range(total):
    rates.append(optimizer.param_groups[0]["lr"])
    optimizer.step()
    scheduler.step()
  assert total == 7020 and rates[0] == 0.0 and max(rates) == pytest.approx(0.1)
  np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-8)
  warmup = int(round(0.3 * STEPS_PER_EPOCH))
  assert rates[warmup - 1] < rates[warmup] == pytest.approx(0.1)  # the warmup ends where optax's does


def _flax_shape(shape: torch.Size) -> tuple[int, ...]:
  """A torch parameter's shape in flax's layout: conv [O, I, kh, kw] -> [kh, kw, I, O], linear [O, I] -> [I, O]."""
  if len(shape) == 4:
    return (shape[2], shape[3], shape[1], shape[0])
  return tuple(reversed(shape))


def test_weight_decay_falls_on_cnnjaxs_parameters():
  model = torch_fashion_mnist.torch_reference.build_model("cifar_resnet20", 10, (28, 28, 1))
  optimizer, _ = torch_fashion_mnist.make_optimizer(model, STEPS_PER_EPOCH, 10)
  torch_sets = {decayed: Counter(_flax_shape(p.shape) for group in optimizer.param_groups
                                 if (group["weight_decay"] > 0) == decayed for p in group["params"])
                for decayed in (True, False)}
  assert all(group["nesterov"] and group["momentum"] == 0.9 for group in optimizer.param_groups)
  assert {g["weight_decay"] for g in optimizer.param_groups} == {0.0, 5e-4}
  model = get_model("cifar_resnet20", stem_stride=1)
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)), train=False))["params"]
  mask = optim.decay_mask(params)
  cnnjax_sets = {decayed: Counter(p.shape for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask))
                                  if m == decayed) for decayed in (True, False)}
  assert torch_sets == cnnjax_sets
  assert sum(torch_sets[True].values()) == 20  # 19 convolutions + the classifier; BN and biases are not decayed


def test_sgd_update_is_cnnjaxs_l2_nesterov():
  """Three torch steps (weight decay in the optimizer) equal optax's chain with cnnjax's L2 term in the gradient."""
  rng = np.random.default_rng(0)
  weight, bias = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
  grads = [(rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(3).astype(np.float32))
           for _ in range(3)]
  module = torch.nn.Module()
  module.weight, module.bias = torch.nn.Parameter(torch.tensor(weight)), torch.nn.Parameter(torch.tensor(bias))
  torch_sgd = torch_fashion_mnist.torch_reference.make_optimizer(module, 0.1, 0.9, 5e-4, nesterov=True)
  for g_weight, g_bias in grads:
    module.weight.grad, module.bias.grad = torch.tensor(g_weight), torch.tensor(g_bias)
    torch_sgd.step()
  opt_config = config_lib.default_config().optimizer
  opt_config.nesterov = True
  tx = optim.make_optimizer(opt_config, optax.constant_schedule(0.1))
  params = {"kernel": jnp.asarray(weight), "bias": jnp.asarray(bias)}
  state = tx.init(params)
  for g_weight, g_bias in grads:
    l2 = jax.grad(optim.l2_penalty)(params)
    total = {"kernel": g_weight + 5e-4 * l2["kernel"], "bias": g_bias + 5e-4 * l2["bias"]}
    updates, state = tx.update(total, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_allclose(module.weight.detach().numpy(), params["kernel"], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(module.bias.detach().numpy(), params["bias"], rtol=1e-6, atol=1e-6)


def test_augmentation_is_a_flip_and_a_zero_padded_shift_per_example():
  x = torch.randn(64, 1, 28, 28)
  out = torch_fashion_mnist.augment(x, torch.Generator().manual_seed(0))
  padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
  seen = Counter()
  for i in range(64):
    matches = [(flip, dy, dx) for flip in (False, True) for dy in range(5) for dx in range(5)
               if torch.equal(out[i], (padded[i].flip(2) if flip else padded[i])[:, dy:dy + 28, dx:dx + 28])]
    assert matches, f"example {i} is no flip + crop of its input"
    seen.update(m[0] for m in matches[:1])
  assert 16 < seen[True] < 48  # flips with probability 1/2


@pytest.mark.skipif(not (torch_fashion_mnist.DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists()
                    and not (Path.home() / "tensorflow_datasets" / "downloads" / "manual").exists(),
                    reason="no offline Fashion-MNIST archives")
def test_benchmark_runs_both_frameworks_to_a_target(tmp_path):
  out = tmp_path / "tta.json"
  done = subprocess.run([sys.executable, "benchmarks/time_to_accuracy.py", "--seeds", "0", "--epochs", "1",
                         "--target", "0", "--train_examples", "128", "--test_examples", "200",
                         "--config_overrides", "eval_batch_size=200", "--out", str(out)],
                        cwd=REPO, capture_output=True, text=True, timeout=300,
                        env={**os.environ, "PYTHONPATH": str(REPO)})
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
  results = json.loads(out.read_text())
  assert {r["framework"] for r in results["runs"]} == {"cnnjax", "torch"}
  for run in results["runs"]:
    assert run["reached"] and run["seconds_to_target"] > 0 and run["step"] == 1 and run["epoch"] == 1
    assert [e["step"] for e in run["evaluations"]] == [1]
    assert 0 < run["seconds_to_target"] <= run["process_seconds"]
  cnnjax = next(r for r in results["runs"] if r["framework"] == "cnnjax")
  assert cnnjax["compile_seconds"]["train_step"] > 0
  summary = results["summary"]
  assert summary["cnnjax"]["seeds_reached"] == summary["torch"]["seeds_reached"] == 1
  assert summary["torch_over_cnnjax"] > 0
  assert results["test_examples"] == 200 and results["machine"]["cores"] >= 1 and results["versions"]["torch"]
  assert "| cnnjax | 1/1 |" in results["markdown"] and "git_commit" in results
  update_readme = _update_readme()
  section = update_readme.time_to_accuracy_section(out)
  assert results["command"] in section and section.endswith(results["markdown"])
  assert update_readme.time_to_accuracy_section(tmp_path / "missing.json").startswith("No recording yet")


def _update_readme():
  """scripts/update_readme.py as a module (scripts/ is no package)."""
  spec = importlib.util.spec_from_file_location("update_readme", REPO / "scripts" / "update_readme.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module



def test_seeds_recorded_in_two_sittings_are_summarised_together():
  import time_to_accuracy

  def run(framework, seed, seconds):
    return {"framework": framework, "seed": seed, "reached": True, "seconds_to_target": seconds, "epoch": 13,
            "compile_seconds": None, "best_test_accuracy": 0.935}

  def sitting(seed, cnnjax, torch_seconds, note):
    runs = [run("cnnjax", seed, cnnjax), run("torch", seed, torch_seconds)]
    return {"command": f"PYTHONPATH=. python benchmarks/time_to_accuracy.py --seeds {seed} --target 0.93",
            "target": 0.93, "epochs": 15.0, "train_examples": 60000, "test_examples": 10000, "run_to_end": False,
            "torch_layout": "channels_last", "git_commit": f"commit{seed}", "note": note, "runs": runs,
            "summary": time_to_accuracy.summarise(runs)}

  both = time_to_accuracy._add_to(sitting(0, 100.0, 150.0, "first"), sitting(1, 120.0, 120.0, "second"))
  assert [r["seed"] for r in both["runs"]] == [0, 0, 1, 1]
  assert both["summary"]["cnnjax"]["median_seconds_to_target"] == 110.0
  assert both["summary"]["torch_over_cnnjax_per_seed"] == {"0": 1.5, "1": 1.0}
  assert "--seeds 0,1 " in both["command"] and [s["git_commit"] for s in both["sittings"]] == ["commit0", "commit1"]
  assert both["note"] == "first; second"
  with pytest.raises(SystemExit, match="already recorded"):
    time_to_accuracy._add_to(both, sitting(1, 1.0, 1.0, ""))
  with pytest.raises(SystemExit, match="target differ"):
    time_to_accuracy._add_to(both, {**sitting(2, 1.0, 1.0, ""), "target": 0.9})
