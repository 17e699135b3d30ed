"""cnnjax.kernels.batch_sharded: oneDNN convolutions on 2 CPU devices, each convolving its shard of the batch.

In one fresh process with 2 simulated devices: under jit over the `data` mesh (batch sharded, kernel
replicated) the forward pass, the input gradient and the filter gradient (summed over the devices)
equal lax's and the single-device oneDNN's within the float32 bound of tests/layers/parity.py; the
compiled program runs the three oneDNN calls on per-device shapes and gathers no activations. Inside
jax.shard_map (per-device batch norm) the convolution and BatchNormReLU still differentiate, with
the parameters' gradients summed over the devices.
"""

import json

import pytest


CHILD = """
import functools, json, re
import jax, jax.numpy as jnp, numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P
from cnnjax.fast import onednn_conv
from cnnjax.fast.batch_norm_relu import batch_norm_relu
from cnnjax.parallel import mesh as mesh_lib
from tests.layers.parity import assert_sums_close, conv_term_sums

NHWC = ("NHWC", "HWIO", "NHWC")
# (batch, height, width, C_in, C_out, kernel, stride, padding): stride 2 on an odd size, a 7x7/2 stem,
# asymmetric padding; the batch of 4 splits 2 + 2
CASES = [(4, 8, 8, 3, 4, (3, 3), (1, 1), ((1, 1), (1, 1))), (4, 15, 15, 3, 8, (7, 7), (2, 2), ((3, 3), (3, 3))),
         (4, 6, 9, 4, 5, (2, 3), (1, 2), ((0, 1), (2, 0)))]
mesh = mesh_lib.make_data_mesh()
rng = np.random.default_rng(0)


def value_and_grads(conv, strides, padding):
  def loss(x, k, cotangent):
    y = conv(x, k, strides, padding, dimension_numbers=NHWC)
    return jnp.sum(y * cotangent), y
  return jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)


def lax_conv(*args, **kwargs):
  return lax.conv_general_dilated(*args, precision=lax.Precision.HIGHEST, **kwargs)


hlo_counts = []
for n, h, w, c_in, c_out, kernel, strides, padding in CASES:
  x = jnp.asarray(rng.standard_normal((n, h, w, c_in)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((*kernel, c_in, c_out)) / np.sqrt(c_in * np.prod(kernel)), jnp.float32)
  y_shape = jax.eval_shape(lambda x, k: lax_conv(x, k, strides, padding, dimension_numbers=NHWC), x, k).shape
  cotangent = jnp.asarray(rng.standard_normal(y_shape), jnp.float32)
  ours = jax.jit(value_and_grads(onednn_conv.conv_general_dilated, strides, padding))
  sharded = (*jax.device_put((x, k), (mesh_lib.batch_sharding(mesh), mesh_lib.replicated(mesh))),
             jax.device_put(cotangent, mesh_lib.batch_sharding(mesh)))
  (_, y), (dx, dk) = ours(*sharded)
  assert y.sharding.spec[0] == dx.sharding.spec[0] == "data" and all(a is None for a in dk.sharding.spec)
  (_, y1), (dx1, dk1) = ours(*jax.device_put((x, k, cotangent), jax.devices()[0]))  # oneDNN on one device
  (_, y_ref), (dx_ref, dk_ref) = value_and_grads(lax_conv, strides, padding)(x, k, cotangent)
  bounds = conv_term_sums(x, k, cotangent, strides, padding)
  for what, got, one, want, (sums, terms) in zip(("y", "dx", "dk"), (y, dx, dk), (y1, dx1, dk1),
                                                 (y_ref, dx_ref, dk_ref), bounds):
    assert_sums_close(got, want, sums, terms, f"{what} vs lax")
    assert_sums_close(got, one, sums, terms, f"{what} vs one device")
  hlo = ours.lower(*sharded).compile().as_text()
  calls = re.findall(r'f32\\[([0-9,]+)\\][^\\n]*custom_call_target="cnnjax_(\\w+)"', hlo)
  hlo_counts.append({"calls": sorted(set(calls)), "all_gathers": hlo.count(" all-gather(")})

# Per-device batch norm: conv -> BatchNormReLU on each device's shard inside shard_map, against lax + plain BN
c = 4
x = jnp.asarray(rng.standard_normal((4, 6, 6, 3)), jnp.float32)
k = jnp.asarray(rng.standard_normal((3, 3, 3, c)) / 5, jnp.float32)
scale, bias = jnp.linspace(0.5, 1.5, c), jnp.linspace(-0.2, 0.2, c)
cotangent = jnp.asarray(rng.standard_normal((4, 6, 6, c)), jnp.float32)


def plain_bn_relu(y, scale, bias):
  mean, var = jnp.mean(y, (0, 1, 2)), jnp.var(y, (0, 1, 2))
  return jnp.maximum((y - mean) * lax.rsqrt(var + 1e-5) * scale + bias, 0.0)


def per_device(conv, bn_relu):
  def loss(x, k, scale, bias, cotangent):
    return jnp.sum(bn_relu(conv(x, k, (1, 1), "SAME", dimension_numbers=NHWC), scale, bias) * cotangent)
  step = jax.shard_map(jax.grad(loss, argnums=(1, 2, 3)), mesh=mesh, in_specs=(P("data"), P(), P(), P(), P("data")),
                       out_specs=P())
  return jax.jit(step)(x, k, scale, bias, cotangent)


fast = per_device(onednn_conv.conv_general_dilated, lambda y, s, b: batch_norm_relu(y, s, b)[0])
plain = per_device(lax_conv, plain_bn_relu)
for what, got, want in zip(("dk", "dscale", "dbias"), fast, plain):
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * float(jnp.abs(want).max()), err_msg=what)
print(json.dumps({"status": onednn_conv.onednn_status(), "hlo": hlo_counts}))
"""


@pytest.fixture(scope="module", autouse=True)
def library(onednn_library):
  """Every test here needs the oneDNN convolutions (tests/conftest.py)."""


def test_two_devices_convolve_their_own_shards(run_with_devices):
  result = json.loads(run_with_devices(CHILD, 2).strip().splitlines()[-1])
  assert result["status"] == "on"
  for case in result["hlo"]:
    assert case["all_gathers"] == 0
    kinds = {kind for _, kind in case["calls"]}
    assert kinds == {"CnnjaxConvForward", "CnnjaxConvInputGrad", "CnnjaxConvFilterGrad"}
    # every batched operand or result of the calls holds 2 of the 4 examples
    assert {shape.split(",")[0] for shape, kind in case["calls"] if kind != "CnnjaxConvFilterGrad"} == {"2"}
