"""benchmarks/machine.py: the fp32 peak that the speed tables divide by, and the clock it rests on."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import machine  # noqa: E402  pylint: disable=wrong-import-position


def test_flop_per_cycle_follows_the_vector_units():
  assert machine.flop_per_cycle({"avx512f", "avx2", "fma"}, "AuthenticAMD", 25)[0] == 32  # Zen 4: 256-bit pipes
  assert machine.flop_per_cycle({"avx512f", "avx2", "fma"}, "GenuineIntel", 6)[0] == 64
  assert machine.flop_per_cycle({"avx2", "fma"}, "AuthenticAMD", 23)[0] == 32
  assert machine.flop_per_cycle(set(), "", 0)[0] == 8


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the clock probe is compiled with gcc")
def test_measured_clock_is_a_plausible_core_clock():
  mhz = machine.measured_clock_mhz(repeats=1)
  assert mhz is not None and 500 < mhz < 7000


def test_peak_derivation_names_its_clock_source():
  cpu = machine.cpu_description()
  assert cpu["fp32_peak_gflops"] == pytest.approx(cpu["cores"] * cpu["ghz"] * cpu["fp32_flop_per_cycle"])
  assert cpu["clock_source"] in cpu["peak_derivation"]


def test_isa_limits_name_the_caps_and_how_to_rerun_under_them():
  assert machine.isa_limits({}) == {"ONEDNN_MAX_CPU_ISA": "native", "xla_cpu_max_isa": "native",
                                    "label": "native ISA", "command_prefix": ""}
  capped = machine.isa_limits({"ONEDNN_MAX_CPU_ISA": "AVX2", "XLA_FLAGS": "--xla_foo=1 --xla_cpu_max_isa=AVX2"})
  assert capped["label"] == "ONEDNN_MAX_CPU_ISA=AVX2, --xla_cpu_max_isa=AVX2"
  assert capped["command_prefix"] == "ONEDNN_MAX_CPU_ISA=AVX2 XLA_FLAGS=--xla_cpu_max_isa=AVX2 "
