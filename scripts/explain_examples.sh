#!/usr/bin/env bash
# The recorded `cnnjax explain` example: a 1-epoch ResNet-20 Fashion-MNIST run small enough to commit with its
# checkpoint (results/explain/fashion_mnist_resnet20_short), three test images and their Grad-CAM and saliency maps.
#   scripts/explain_examples.sh [PYTHON]   (default .venv/bin/python; the training step is skipped when the run exists)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-.venv/bin/python}"
run=results/explain/fashion_mnist_resnet20_short
if [ ! -f "$run/results.json" ]; then
  PYTHONPATH=. "$python" -m cnnjax train --config configs/fashion_mnist_resnet20.py --workdir "$run" \
    --config.num_epochs=1 --config.keep_checkpoints=1 --config.checkpoint_every_steps=100000 \
    --config.eval_every_epochs=0 --config.progress_bar=false
  rm -rf "$run/run.lock" "$run/tensorboard"
fi
mkdir -p results/explain/images results/explain/heat
PYTHONPATH=. "$python" scripts/fashion_mnist_image.py results/explain/images 0 2 6
for method in gradcam saliency; do
  for image in results/explain/images/*.png; do
    name=$(basename "$image" .png)
    PYTHONPATH=. "$python" -m cnnjax explain "$image" --workdir "$run" --method "$method" \
      --out "results/explain/heat/${name#fashion_mnist_test_}_$method.png"
  done
done
