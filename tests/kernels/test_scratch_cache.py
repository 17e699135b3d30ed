"""cnnjax/kernels/scratch_cache.c, preloaded: large aligned blocks are reused, never two kept, all else is glibc's.

Each check runs in a fresh process with LD_PRELOAD set, as the `cnnjax` command runs. The library
is built by scripts/setup.sh (which CI runs); where it cannot be built these tests skip, except
under CI, where a missing library is a failure.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cnnjax.fast import process
from cnnjax.kernels import build
from tests.parallel import subprocesses

ALLOCATOR_PROBE = textwrap.dedent("""
    import ctypes, json
    libc = ctypes.CDLL(None)
    libc.posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.realloc.argtypes, libc.realloc.restype = [ctypes.c_void_p, ctypes.c_size_t], ctypes.c_void_p
    libc.malloc_usable_size.argtypes, libc.malloc_usable_size.restype = [ctypes.c_void_p], ctypes.c_size_t
    MiB = 1 << 20

    def alloc(size, alignment=64):
      out = ctypes.c_void_p()
      status = libc.posix_memalign(ctypes.byref(out), alignment, size)
      return out.value if status == 0 else -status

    def mapped(address):
      with open("/proc/self/maps") as maps:
        return any(int(line.split("-")[0], 16) == address for line in maps)

    def stats():
      values = [ctypes.c_uint64() for _ in range(3)]
      libc.cnnjax_scratch_cache_stats(*(ctypes.byref(v) for v in values))
      return [v.value for v in values]

    r = {}
    a = alloc(40 * MiB + 5)
    ctypes.memset(a, 7, 40 * MiB)
    r["page_aligned"] = a % 4096 == 0
    r["usable"] = libc.malloc_usable_size(a)
    libc.free(a)
    r["kept_after_free"] = mapped(a)
    b = alloc(40 * MiB + 5)
    r["reused"] = b == a
    c = alloc(40 * MiB + 5)  # a second step while the first is still live
    r["second_is_fresh"] = c not in (a, b)
    libc.free(b)  # superseded by the later c: unmapped, not kept
    r["superseded_unmapped"] = not mapped(b)
    libc.free(c)
    r["stats"] = stats()
    d = alloc(80 * MiB)  # another size: the kept 40 MiB block goes
    r["other_size_unmaps_kept"] = d != c and not mapped(c)
    ctypes.memmove(d, b"scratch", 7)
    e = libc.realloc(d, 64)
    r["realloc_keeps_bytes"] = ctypes.string_at(e, 7) == b"scratch"
    r["realloc_unmapped_block_kept"] = mapped(d)  # freed into the cache
    libc.free(e)
    held = alloc(40 * MiB)  # while a block is live, free() looks up page-aligned pointers
    small = alloc(1 * MiB)
    page = alloc(1 * MiB, alignment=4096)  # glibc's, and page-aligned like ours
    r["small_is_glibc"] = small > 0 and not mapped(small) and page % 4096 == 0 and not mapped(page)
    libc.free(small)
    libc.free(page)
    libc.free(held)
    r["einval"] = alloc(40 * MiB, alignment=3)
    print(json.dumps(r))
    """)

JAX_PROBE = textwrap.dedent("""
    import ctypes, json, resource
    import jax, jax.numpy as jnp
    # the barrier keeps XLA from fusing y into the sum: y is a 64 MiB array in the step's scratch buffer
    f = jax.jit(lambda x: jnp.sum(jnp.square(jax.lax.optimization_barrier(jnp.sin(x) * x))))
    x = jnp.linspace(0.0, 1.0, 16 * 2 ** 20)
    compiled = f.lower(x).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    jax.block_until_ready(compiled(x))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
      value = float(compiled(x))
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
    print(json.dumps({"temp": temp, "faults_per_call": faults, "value": value}))
    """)


@pytest.fixture(scope="module")
def library() -> str:
  reason = build.build(target="scratch_cache")
  if reason and os.environ.get("CI"):
    pytest.fail(f"scratch cache unavailable under CI: {reason}")
  if reason:
    pytest.skip(f"scratch cache not built: {reason}")
  return str(build.library_path("scratch_cache"))


def _run(code: str, preload: str | None) -> dict:
  env = subprocesses.cpu_env(1)
  env.pop("LD_PRELOAD", None)
  env[process.SCRATCH_CACHE_ENV] = "0"
  if preload:
    env["LD_PRELOAD"] = preload
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_blocks_are_reused_and_never_two_kept(library):
  r = _run(ALLOCATOR_PROBE, library)
  assert r["page_aligned"] and r["usable"] == 42 * 2 ** 20  # rounded up to whole 2 MiB pages
  assert r["kept_after_free"] and r["reused"]
  assert r["second_is_fresh"] and r["superseded_unmapped"]
  assert r["stats"] == [1, 2, 40 * 2 ** 20 + 2 * 2 ** 20]  # one reuse, two fresh mappings, c kept
  assert r["other_size_unmaps_kept"]
  assert r["realloc_keeps_bytes"] and r["realloc_unmapped_block_kept"]
  assert r["small_is_glibc"]
  assert r["einval"] == -22  # EINVAL for an alignment that is not a power of two


def test_xla_scratch_buffer_stops_faulting_with_same_results(library):
  cached = _run(JAX_PROBE, library)
  plain = _run(JAX_PROBE, None)
  assert cached["temp"] >= 64 * 2 ** 20  # the program does have a large scratch buffer
  assert cached["value"] == plain["value"]
  assert plain["faults_per_call"] > 30  # glibc maps it afresh each call (more still in 4 KiB pages)
  assert cached["faults_per_call"] < 0.2 * plain["faults_per_call"]
