#!/usr/bin/env bash
# Sets everything up (.venv with the test extras, offline data) and runs the test suite (slow tests aside).
# Extra arguments go to pytest; PYTEST_WORKERS sets the number of pytest-xdist workers (default 2).
# Tests marked slow are deselected by pyproject.toml; `scripts/test.sh -m slow` runs them, `-m ''` everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_venv "test"
ensure_fashion_mnist_archives
ensure_onednn
exec .venv/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" "$@"
