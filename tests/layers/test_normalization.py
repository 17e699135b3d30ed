"""LRN against torch local_response_norm (values, gradients); BatchNorm against torch batch_norm, momentum mapped."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.layers import BatchNorm, LocalResponseNorm, flax_momentum, local_response_norm
from tests.layers.parity import assert_close
from tests.parallel import subprocesses

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
F = torch.nn.functional
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shape, size, alpha, beta, k, scale", [
    ((2, 5, 5, 8), 5, 1e-4, 0.75, 2.0, 1.0),     # AlexNet's NORM1/NORM2
    ((1, 4, 3, 7), 5, 1e-2, 0.75, 2.0, 10.0),    # large activations: the denominator matters
    ((2, 3, 3, 6), 4, 0.5, 0.5, 1.0, 3.0),       # even size: asymmetric channel window
    ((1, 2, 2, 3), 7, 1.0, 1.0, 1.0, 2.0),       # window wider than the channels
])
def test_lrn_matches_torch_with_gradient(shape, size, alpha, beta, k, scale):
  rng = np.random.default_rng(0)
  x = (scale * rng.standard_normal(shape)).astype(np.float32)
  cotangent = rng.standard_normal(shape).astype(np.float32)

  def value_and_grad(x, ct):
    y, vjp = jax.vjp(lambda x: local_response_norm(x, size, alpha, beta, k), x)
    return y, vjp(ct)[0]

  y, dx = jax.jit(value_and_grad)(x, cotangent)
  xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
  ref = F.local_response_norm(xt, size, alpha, beta, k)
  ref.backward(torch.tensor(cotangent).permute(0, 3, 1, 2))
  assert_close(y, ref.detach().permute(0, 2, 3, 1).numpy())
  assert_close(dx, xt.grad.permute(0, 2, 3, 1).numpy())
  assert float(jnp.abs(y - x).max()) > 1e-4 * scale  # the normalization did something


def test_lrn_module_defaults_are_alexnets():
  x = np.random.default_rng(1).standard_normal((1, 3, 3, 6)).astype(np.float32)
  layer = LocalResponseNorm()
  assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)
  assert layer.init(jax.random.key(0), x) == {}
  ref = F.local_response_norm(torch.tensor(x).permute(0, 3, 1, 2), 5, 1e-4, 0.75, 2.0)
  assert_close(layer.apply({}, x), ref.permute(0, 2, 3, 1).numpy())


def test_flax_momentum_maps_torch_convention():
  assert flax_momentum(0.1) == pytest.approx(0.9)
  assert flax_momentum(0.01) == pytest.approx(0.99)
  with pytest.raises(ValueError, match="torch_momentum"):
    flax_momentum(1.5)
  assert BatchNorm.keywords["momentum"] == pytest.approx(0.9) and BatchNorm.keywords["epsilon"] == 1e-5


@pytest.mark.parametrize("shape, torch_momentum", [((8, 4, 4, 3), 0.1), ((3, 5, 2, 6), 0.3)])
def test_batch_norm_train_eval_and_running_statistics_match_torch(shape, torch_momentum):
  rng = np.random.default_rng(2)
  channels = shape[-1]
  layer = BatchNorm(use_running_average=False, momentum=flax_momentum(torch_momentum))
  variables = {"params": {"scale": rng.uniform(0.5, 1.5, channels).astype(np.float32),
                          "bias": rng.standard_normal(channels).astype(np.float32)},
               "batch_stats": {"mean": np.zeros(channels, np.float32), "var": np.ones(channels, np.float32)}}
  t_mean, t_var = torch.zeros(channels), torch.ones(channels)
  weight, bias = (torch.tensor(variables["params"][n]) for n in ("scale", "bias"))
  apply_train = jax.jit(lambda v, x: layer.apply(v, x, mutable=["batch_stats"]))
  n = shape[0] * shape[1] * shape[2]
  for step in range(3):
    x = (2.0 + 3.0 * rng.standard_normal(shape)).astype(np.float32)
    y, updates = apply_train(variables, x)
    before = variables["batch_stats"]["var"]
    variables = {**variables, "batch_stats": updates["batch_stats"]}
    ref = F.batch_norm(torch.tensor(x).permute(0, 3, 1, 2), t_mean, t_var, weight, bias, training=True,
                       momentum=torch_momentum, eps=1e-5)
    assert_close(y, ref.permute(0, 2, 3, 1).numpy())
    assert_close(variables["batch_stats"]["mean"], t_mean.numpy())
    # running_var: torch averages in the unbiased batch variance, flax the biased one (what both normalize by)
    biased = x.reshape(-1, channels).var(axis=0)
    m = torch_momentum
    assert_close(variables["batch_stats"]["var"], (1 - m) * np.asarray(before) + m * biased)
    if step == 0:
      assert_close(t_var.numpy(), (1 - m) * 1.0 + m * biased * n / (n - 1))
    t_var = torch.tensor(np.asarray(variables["batch_stats"]["var"]))  # carry one state forward for both
  x = rng.standard_normal(shape).astype(np.float32)
  y_eval = BatchNorm(use_running_average=True).apply(variables, x)
  ref = F.batch_norm(torch.tensor(x).permute(0, 3, 1, 2), t_mean, t_var, weight, bias, training=False, eps=1e-5)
  assert_close(y_eval, ref.permute(0, 2, 3, 1).numpy())


def test_batch_norm_statistics_are_global_under_jit_over_a_mesh():
  code = textwrap.dedent("""
      import jax, numpy as np
      from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      from cnnjax.layers import BatchNorm
      x = np.random.default_rng(0).standard_normal((16, 3, 3, 4)).astype(np.float32)
      x[:8] += 5.0  # the devices' shards have different statistics
      layer = BatchNorm(use_running_average=False)
      variables = layer.init(jax.random.key(0), x)
      apply = jax.jit(lambda v, x: layer.apply(v, x, mutable=["batch_stats"]))
      mesh = Mesh(np.array(jax.devices()), ("data",))
      xs = jax.device_put(x, NamedSharding(mesh, P("data")))
      (y1, s1), (y8, s8) = apply(variables, x), apply(variables, xs)
      dmean = abs(s1["batch_stats"]["mean"] - s8["batch_stats"]["mean"]).max()
      print(len(jax.devices()), float(abs(y1 - y8).max()), float(dmean))
  """)
  env = {**os.environ, "XLA_FLAGS": subprocesses.with_device_count(os.environ.get("XLA_FLAGS", ""), 8),
         "PYTHONPATH": str(REPO)}
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  devices, dy, dmean = result.stdout.split()
  assert int(devices) == 8 and float(dy) < 1e-5 and float(dmean) < 1e-5
