#!/usr/bin/env bash
# Sets everything up (.venv with the test extras, offline data) and runs the whole test suite.
# Extra arguments go to pytest; PYTEST_WORKERS sets the number of pytest-xdist workers (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_venv "test"
ensure_fashion_mnist_archives
ensure_onednn
exec .venv/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" "$@"
