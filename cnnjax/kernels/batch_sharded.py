"""Sharding rules for custom calls that treat each example of a batch on its own (oneDNN's convolutions).

Why: XLA's partitioner knows nothing of a custom call, so under `jax.jit` over a mesh it gathers every
operand onto every device and runs the whole call there (an all-gather of the activations, and each
device doing all the work). `batch_sharded` wraps such a call in `jax.experimental.custom_partitioning`
(Shardy `sharding_rule` for propagation, `partition` for lowering): the batch dimension (the first of
the batched operands) keeps its sharding, every other dimension is replicated, and each device runs
the call on its own examples. A call that sums over the batch (a filter gradient) returns per-device
partial sums, added with a psum over the batch's mesh axes inside the partitioned lowering.
With one device, or inside a fully manual `shard_map`, JAX lowers the call unchanged.
`vary_alike` prepares a custom VJP's operands for use inside `jax.shard_map` (per-device batch norm).
"""

from collections.abc import Callable, Sequence

import jax
from jax import lax
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding, PartitionSpec as P

BATCH = "n"  # the batch's factor in a sharding rule


def _factors(rule: str) -> tuple[str, ...]:
  """The factors of `rule` in order of first appearance (Shardy wants special factors sorted so)."""
  return tuple(dict.fromkeys(rule.replace("->", " ").replace(",", " ").split()))


def batch_sharded(impl: Callable, static_argnums: Sequence[int], rule: str, batched: Sequence[bool],
                  sum_over_batch: bool = False, results: int = 1) -> Callable:
  """`impl(*operands, *static)` (static arguments last) split over the batch; same signature as impl.

  rule: Shardy's einsum-like rule naming the batch factor "n" (e.g. "n h w c, i j c o -> n p q o");
  every other factor is replicated. batched[i]: whether operand i has the batch first. sum_over_batch:
  the result has no batch dimension and is the sum over it (each device's result is psum'd).
  results: how many batched results impl returns (a tuple when more than one).
  impl must derive its result's shape from its operands' (per-device) shapes.
  """
  wrapped = custom_partitioning(impl, static_argnums=tuple(static_argnums))

  def partition(*args):
    *static, mesh, arg_shapes, _ = args
    spec = arg_shapes[0].sharding.spec
    axes = spec[0] if len(spec) else None  # the mesh axes the batch is split over (a name, a tuple or None)
    batch, whole = NamedSharding(mesh, P(axes)), NamedSharding(mesh, P())
    arg_shardings = tuple(batch if b else whole for b in batched)

    def lower(*operands):
      result = impl(*operands, *static)
      return lax.psum(result, axes) if sum_over_batch and axes else result

    result_sharding = whole if sum_over_batch else batch
    return mesh, lower, (result_sharding,) * results if results > 1 else result_sharding, arg_shardings

  replicated = tuple(f for f in _factors(rule) if f != BATCH)
  wrapped.def_partition(partition=partition, sharding_rule=rule, need_replication_factors=replicated,
                        reduction_factors=(BATCH,) if sum_over_batch else ())
  return wrapped


def vary_alike(*arrays):
  """`arrays` (None passes) cast to vary over the union of the manual mesh axes any of them varies over.

  Inside jax.shard_map the batch varies over "data" and the parameters do not; lax's own operations
  cast such mixed operands implicitly, a custom VJP does not (its backward pass must return each
  gradient with its input's type). After the cast the transpose of the cast sums a parameter's
  gradient over those axes. Outside shard_map nothing varies and the arrays come back unchanged.
  """
  axes = frozenset().union(*(jax.typeof(a).manual_axis_type.varying for a in arrays if a is not None))
  return tuple(a if a is None or not (missing := axes - jax.typeof(a).manual_axis_type.varying)
               else lax.pcast(a, tuple(sorted(missing)), to="varying") for a in arrays)


def varying_result(shape, dtype, like) -> jax.ShapeDtypeStruct:
  """A custom call's result type: `shape`, `dtype`, varying over the manual mesh axes `like` varies over."""
  like_type = jax.typeof(like)
  if not like_type.manual_axis_type.varying:
    return jax.ShapeDtypeStruct(tuple(shape), dtype)
  sharding = NamedSharding(like_type.sharding.mesh, P())  # within shard_map only the manual axes matter
  return jax.ShapeDtypeStruct(tuple(shape), dtype, sharding=sharding, manual_axis_type=like_type.manual_axis_type)
