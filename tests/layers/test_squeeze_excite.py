"""SqueezeExcite against a torch composition of the paper's ops; hidden width rounding and parameter count."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.analysis import count_params
from cnnjax.layers import SqueezeExcite, se_hidden_features

torch = pytest.importorskip("torch", reason="torch==2.13.0 CPU is the parity reference ([test] extra)")
F = torch.nn.functional


@pytest.mark.parametrize("shape, reduction", [((2, 4, 4, 32), 16), ((1, 3, 5, 20), 3), ((2, 2, 2, 6), 16)])
def test_squeeze_excite_matches_torch(shape, reduction):
  rng = np.random.default_rng(0)
  x = rng.standard_normal(shape).astype(np.float32)
  layer = SqueezeExcite(reduction=reduction)
  shapes = jax.eval_shape(layer.init, jax.random.key(0), x)
  variables = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)
  hidden = se_hidden_features(shape[-1], reduction)
  assert variables["params"]["fc1"]["kernel"].shape == (shape[-1], hidden)
  y = jax.jit(layer.apply)(variables, x)
  p = {k: {n: torch.tensor(v) for n, v in d.items()} for k, d in variables["params"].items()}
  xt = torch.tensor(x).permute(0, 3, 1, 2)
  s = F.adaptive_avg_pool2d(xt, 1).flatten(1)
  s = torch.sigmoid(F.linear(F.relu(F.linear(s, p["fc1"]["kernel"].T, p["fc1"]["bias"])),
                             p["fc2"]["kernel"].T, p["fc2"]["bias"]))
  ref = (xt * s[:, :, None, None]).permute(0, 2, 3, 1).numpy()
  assert np.abs(np.asarray(y) - ref).max() <= 1e-5 * np.abs(ref).max()


def test_hidden_width_rounds_down_like_torchvision_and_timm():
  assert [se_hidden_features(c, 16) for c in (64, 256, 512, 1024, 2048)] == [4, 16, 32, 64, 128]
  assert se_hidden_features(20, 3) == 6 and se_hidden_features(6, 16) == 1
  with pytest.raises(ValueError, match="reduction"):
    se_hidden_features(64, 0)


def test_parameter_count_is_2ch_plus_h_plus_c():
  x = np.zeros((1, 7, 7, 256), np.float32)
  variables = jax.eval_shape(SqueezeExcite(reduction=16).init, jax.random.key(0), x)
  assert count_params(variables) == 2 * 256 * 16 + 16 + 256
  variables = jax.eval_shape(SqueezeExcite(hidden_features=8).init, jax.random.key(0), x)
  assert count_params(variables) == 2 * 256 * 8 + 8 + 256


def test_squeeze_excite_compute_dtype():
  x = jnp.asarray(np.random.default_rng(3).standard_normal((1, 3, 3, 32)), jnp.bfloat16)
  layer = SqueezeExcite(reduction=4, dtype=jnp.bfloat16)
  variables = layer.init(jax.random.key(0), x)
  assert layer.apply(variables, x).dtype == jnp.bfloat16
  assert variables["params"]["fc1"]["kernel"].dtype == jnp.float32
