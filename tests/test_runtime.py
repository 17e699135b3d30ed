"""cnnjax.runtime: the XLA CPU flags and tcmalloc preload the cnnjax command applies."""

from cnnjax import runtime


def test_cpu_flags_are_added_once_and_user_flags_win():
  flags = runtime.with_cpu_flags("")
  for name, value in runtime.XLA_CPU_FLAGS.items():
    assert f"{name}={value}" in flags.split()
  assert runtime.with_cpu_flags(flags) == flags
  assert "xla_cpu_use_multi_output_fusion" not in flags
  fused = runtime.with_cpu_flags(flags, multi_output_fusion=True).split()
  assert set(flags.split()) < set(fused) and "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion" in fused
  user = "--xla_cpu_experimental_ynn_fusion_type=none --xla_force_host_platform_device_count=8"
  merged = runtime.with_cpu_flags(user).split()
  assert "--xla_cpu_experimental_ynn_fusion_type=none" in merged
  assert "--xla_force_host_platform_device_count=8" in merged
  assert sum(f.startswith("--xla_cpu_experimental_ynn_fusion_type") for f in merged) == 1


def test_set_xla_flags_opt_out():
  env = {"CNNJAX_XLA_CPU_FLAGS": "0", "XLA_FLAGS": "--a=1"}
  runtime.set_xla_flags(env)
  assert env["XLA_FLAGS"] == "--a=1"


def test_tcmalloc_reexec_env(monkeypatch):
  monkeypatch.setattr(runtime, "tcmalloc_library", lambda: "/lib/libtcmalloc_minimal.so.4")
  env = runtime.tcmalloc_reexec_env({"LD_PRELOAD": "/lib/other.so"})
  assert env["LD_PRELOAD"] == "/lib/libtcmalloc_minimal.so.4 /lib/other.so"
  assert runtime.tcmalloc_reexec_env(env) is None  # already preloaded: no second re-exec
  assert runtime.tcmalloc_reexec_env({"CNNJAX_TCMALLOC": "0"}) is None
  monkeypatch.setattr(runtime, "tcmalloc_library", lambda: None)
  assert runtime.tcmalloc_reexec_env({}) is None


def test_main_called_in_process_never_reexecutes(monkeypatch, capsys):
  import os

  from cnnjax import main

  def refuse(*args):
    raise AssertionError("main(argv) must not re-execute the calling process")

  monkeypatch.setattr(os, "execve", refuse)
  monkeypatch.setattr(runtime, "tcmalloc_library", lambda: "/lib/libtcmalloc_minimal.so.4")
  monkeypatch.delenv("LD_PRELOAD", raising=False)
  assert main.main(["cnnjax", "segment", "missing.png", "--method", "slic"]) == 2  # runs, fails cleanly


def test_flags_for_a_child_environment_apply_even_after_jax_started():
  import jax
  jax.devices()  # this process's backend is up: its own flags are settled, a child's are not
  env = {"XLA_FLAGS": ""}
  runtime.set_xla_flags(env)
  assert env["XLA_FLAGS"] == runtime.with_cpu_flags("")
