#!/usr/bin/env bash
# Sets everything up and runs the default experiment: LeNet-5 on Fashion-MNIST (offline).
# Extra arguments go to `cnnjax train`, e.g. --config.num_epochs=2. WORKDIR picks the output folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_venv ""
ensure_fashion_mnist_archives
ensure_onednn
exec .venv/bin/cnnjax train --config configs/fashion_mnist_lenet5.py \
  --workdir "${WORKDIR:-runs/fashion_mnist_lenet5}" "$@"
