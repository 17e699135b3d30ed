#!/usr/bin/env bash
# The CPU scaling studies committed in results/scaling/: LeNet-5 and CIFAR ResNet-20 over 1, 2, 4, 8
# simulated CPU devices. The simulated devices share this machine's cores (2 on the reference
# machine), so the numbers show the cost of partitioning the step, not hardware speedup; the same
# command on GPUs (see benchmarks/accelerator/scale_resnet50.sh) measures real scaling.
#
#   experiments/scaling/run_cpu_study.sh            # about 5-10 minutes on 2 idle cores
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
export JAX_PLATFORMS=cpu PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

nice -n 10 "$PY" -m cnnjax.main scale --config configs/fashion_mnist_lenet5.py \
  --devices 1,2,4,8 --per_device_batch 32,64 --steps 20 --warmup_steps 3 --out results/scaling/lenet5
nice -n 10 "$PY" -m cnnjax.main scale --model cifar_resnet20 --input_shape 32,32,3 --num_classes 10 \
  --devices 1,2,4,8 --per_device_batch 8,16 --steps 10 --warmup_steps 2 --out results/scaling/cifar_resnet20
