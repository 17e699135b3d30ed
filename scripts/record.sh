#!/usr/bin/env bash
# Trains a config and files its outputs under results/NAME (results.json, config.json, metrics.jsonl),
# the recorded runs that the README's tables are generated from.
#   scripts/record.sh configs/fashion_mnist_lenet5.py fashion_mnist_lenet5 [--config.KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
config="$1"; name="$2"; shift 2
.venv/bin/cnnjax train --config "$config" --workdir "runs/$name" --config.progress_bar=False "$@"
mkdir -p "results/$name"
cp "runs/$name/results.json" "runs/$name/config.json" "runs/$name/metrics.jsonl" "results/$name/"
.venv/bin/python scripts/update_readme.py
