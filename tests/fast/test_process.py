"""cnnjax.fast.process: the XLA CPU flags and glibc malloc tunables the cnnjax command applies."""

from cnnjax.fast import process


def test_cpu_flags_are_added_once_and_user_flags_win():
  flags = process.with_cpu_flags("")
  for name, value in process.XLA_CPU_FLAGS.items():
    assert f"{name}={value}" in flags.split()
  assert process.with_cpu_flags(flags) == flags
  assert "xla_cpu_use_multi_output_fusion" not in flags
  fused = process.with_cpu_flags(flags, multi_output_fusion=True).split()
  assert set(flags.split()) < set(fused) and "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion" in fused
  user = "--xla_cpu_experimental_ynn_fusion_type=none --xla_force_host_platform_device_count=8"
  merged = process.with_cpu_flags(user).split()
  assert "--xla_cpu_experimental_ynn_fusion_type=none" in merged
  assert "--xla_force_host_platform_device_count=8" in merged
  assert sum(f.startswith("--xla_cpu_experimental_ynn_fusion_type") for f in merged) == 1


def test_set_xla_flags_opt_out():
  env = {"CNNJAX_XLA_CPU_FLAGS": "0", "XLA_FLAGS": "--a=1"}
  process.set_xla_flags(env)
  assert env["XLA_FLAGS"] == "--a=1"


def test_glibc_tunables_are_added_once_and_user_tunables_win():
  assert process.with_glibc_tunables("") == "glibc.malloc.hugetlb=1"
  assert process.with_glibc_tunables("glibc.malloc.arena_max=2") == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
  assert process.with_glibc_tunables("glibc.malloc.hugetlb=0") == "glibc.malloc.hugetlb=0"


def test_allocator_reexec_env(monkeypatch):
  monkeypatch.setattr(process.platform, "libc_ver", lambda: ("glibc", "2.36"))
  monkeypatch.setattr(process, "scratch_cache_library", lambda environ: None)
  env = process.allocator_reexec_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "PATH": "/bin"})
  assert env == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", "PATH": "/bin"}
  assert process.allocator_reexec_env(env) is None  # already set: no second re-exec
  assert process.allocator_reexec_env({"CNNJAX_HUGEPAGES": "0"}) is None
  monkeypatch.setattr(process.platform, "libc_ver", lambda: ("", ""))
  assert process.allocator_reexec_env({}) is None  # musl and others: nothing to tune


def test_allocator_reexec_env_preloads_the_scratch_cache_once(monkeypatch, tmp_path):
  from cnnjax.kernels import build
  library = tmp_path / "libcnnjax_scratch_cache.so"
  monkeypatch.setattr(process.platform, "libc_ver", lambda: ("glibc", "2.36"))
  monkeypatch.setattr(build, "ensure", lambda target: (None, "gcc not found: apt-get install gcc"))
  assert process.allocator_reexec_env({"CNNJAX_HUGEPAGES": "0"}) is None  # cannot be built: nothing to preload
  monkeypatch.setattr(build, "ensure", lambda target: (library, None) if target == "scratch_cache" else None)
  env = process.allocator_reexec_env({"CNNJAX_HUGEPAGES": "0", "LD_PRELOAD": "/opt/other.so"})
  assert env["LD_PRELOAD"] == f"{library} /opt/other.so" and "GLIBC_TUNABLES" not in env
  assert process.allocator_reexec_env(env) is None  # already preloaded: no second re-exec
  assert process.allocator_reexec_env({"CNNJAX_HUGEPAGES": "0", process.SCRATCH_CACHE_ENV: "0"}) is None
  both = process.allocator_reexec_env({})
  assert both == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "LD_PRELOAD": str(library)}


def test_a_missing_scratch_cache_is_said_once_by_the_process_that_runs(monkeypatch, capsys):
  """Not silently: one line on stderr, printed after the re-exec (by the process that trains), not before it."""
  from cnnjax.kernels import build
  monkeypatch.setattr(process.platform, "libc_ver", lambda: ("glibc", "2.36"))
  monkeypatch.setattr(build, "ensure", lambda target: (None, "gcc not found: apt-get install gcc"))
  monkeypatch.setenv("CNNJAX_XLA_CPU_FLAGS", "0")
  monkeypatch.delenv(process.SCRATCH_CACHE_ENV, raising=False)
  monkeypatch.delenv("GLIBC_TUNABLES", raising=False)

  class Reexecuted(Exception):
    pass

  def execve(*args):
    raise Reexecuted

  monkeypatch.setattr(process.os, "execve", execve)
  try:
    process.prepare_process(["train"])  # adds GLIBC_TUNABLES: re-executes, and leaves the note to the new process
  except Reexecuted:
    pass
  assert capsys.readouterr().err == ""
  monkeypatch.setenv("GLIBC_TUNABLES", process.with_glibc_tunables(""))  # as the re-executed process finds it
  process.prepare_process(["train"])
  err = capsys.readouterr().err.splitlines()
  assert len(err) == 1 and "scratch cache unavailable (gcc not found: apt-get install gcc)" in err[0]
  assert f"{process.SCRATCH_CACHE_ENV}=0" in err[0] and "glibc's malloc" in err[0]
  monkeypatch.setenv(process.SCRATCH_CACHE_ENV, "0")  # opted out: nothing to say
  process.prepare_process(["train"])
  assert capsys.readouterr().err == ""
  assert build.TARGETS["scratch_cache"].opt_out == process.SCRATCH_CACHE_ENV


def test_release_freed_memory_returns_heap_pages():
  import numpy as np
  blocks = [np.ones(1 << 13) for _ in range(4000)]  # 256 MiB in 64 KiB chunks: below mmap's threshold, on the heap
  del blocks[:-1]  # freed, but the last block pins the heap's top: free() alone cannot shrink it
  before = _resident_mib()
  process.release_freed_memory()
  assert _resident_mib() < before - 100


def _resident_mib() -> float:
  with open("/proc/self/statm", encoding="ascii") as statm:
    import os
    return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def test_main_called_in_process_never_reexecutes(monkeypatch, capsys):
  import os

  from cnnjax import main

  def refuse(*args):
    raise AssertionError("main(argv) must not re-execute the calling process")

  monkeypatch.setattr(os, "execve", refuse)
  monkeypatch.setattr(process.platform, "libc_ver", lambda: ("glibc", "2.36"))
  monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
  assert main.main(["cnnjax", "segment", "missing.png", "--method", "slic"]) == 2  # runs, fails cleanly


def test_flags_for_a_child_environment_apply_even_after_jax_started():
  import jax
  jax.devices()  # this process's backend is up: its own flags are settled, a child's are not
  env = {"XLA_FLAGS": ""}
  process.set_xla_flags(env)
  assert env["XLA_FLAGS"] == process.with_cpu_flags("")
