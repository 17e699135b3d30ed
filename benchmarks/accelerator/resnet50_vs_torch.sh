#!/usr/bin/env bash
# ResNet-50 bf16 step, cnnjax vs torchvision, on the lent accelerator (results to $OUT); --quick for a CPU check.
cd "$(dirname "$0")/../.." && exec "${PYTHON:-python3}" benchmarks/accelerator/resnet50_vs_torch.py "$@"
