"""The lecture companion: every worked example and figure of the lecture, executable and verified.

`cnnjax lecture --out reports/lecture` runs each section module below and writes PNG figures,
results.json and a README.md index. Each section exposes pure compute functions (asserted by
tests/lecture/test_*.py) and `run(out_dir, settings) -> Section`.
"""
