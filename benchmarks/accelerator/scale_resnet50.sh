#!/usr/bin/env bash
# ResNet-50 scaling study on every accelerator present, on synthetic ImageNet-shaped data.
#
#   benchmarks/accelerator/scale_resnet50.sh           # lent H100/H200 machine: one call, at most ~7.5 min
#   benchmarks/accelerator/scale_resnet50.sh --quick   # CPU proof that the path works (tiny images, 2 steps)
#
# Runs `cnnjax scale` (the runner's real train step on synthetic data, one fresh process per point):
# fp32 first, then bfloat16 compute if time is left. Only jax, flax, optax, numpy, ml_collections
# and cnnjax are imported: tensorflow and tensorflow_datasets are shadowed by stubs that raise on
# import, so an accidental import fails loudly instead of passing here and failing on a bare machine.
# ml_collections (the config schema; pure Python on absl-py and PyYAML) is missing from the lent
# image: install its wheel there first (pip download --no-deps ml_collections, then pip install it).
# Results go to $OUT (the device tool's output folder) or results/scaling/accelerator.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
DEST=${OUT:-results/scaling/accelerator}
BUDGET_S=${BUDGET_S:-450}   # the whole call; the lent machine allows 8 minutes per command
START=$(date +%s)
mkdir -p "$DEST"

BLOCK=$(mktemp -d)
trap 'rm -rf "$BLOCK"' EXIT
for module in tensorflow tensorflow_datasets; do
  mkdir -p "$BLOCK/$module"
  echo "raise ImportError('$module must not be imported on the accelerator scaling path')" > "$BLOCK/$module/__init__.py"
done
export PYTHONPATH="$BLOCK:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2

{
  date -u
  $PY -c "import jax, flax, optax, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
} 2>&1 | tee "$DEST/environment.txt"

remaining() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

study() {  # study NAME [cnnjax scale flags...]
  local name=$1; shift
  local left; left=$(remaining)
  if (( left < 60 )); then echo "skipping $name: ${left}s left of ${BUDGET_S}s" | tee -a "$DEST/environment.txt"; return 0; fi
  echo "== $name (${left}s left)"
  timeout --signal=TERM "$left" $PY -m cnnjax.main scale "$@" --out "$DEST/$name" --timeout "$left" \
    2>&1 | tee "$DEST/$name.log" || echo "$name ended early (exit ${PIPESTATUS[0]}); partial points are in $DEST/$name/points"
}

if [[ "${1:-}" == "--quick" ]]; then
  export JAX_PLATFORMS=cpu
  study resnet50_quick --model resnet50 --input_shape 32,32,3 --num_classes 10 \
    --devices 1,2 --per_device_batch 2 --global_batch 0 --steps 2 --warmup_steps 1
  exit 0
fi

GPUS=$($PY -c "import jax; print(jax.device_count())" 2>/dev/null || echo 1)
DEVICES=1; d=2; while (( d <= GPUS )); do DEVICES="$DEVICES,$d"; d=$((d * 2)); done
if (( GPUS == 1 )); then
  study resnet50_fp32 --model resnet50 --input_shape 224,224,3 --num_classes 1000 \
    --devices 1 --per_device_batch 64,128 --global_batch 0 --steps 20 --warmup_steps 3
  study resnet50_bf16 --model resnet50 --input_shape 224,224,3 --num_classes 1000 --dtype bfloat16 \
    --devices 1 --per_device_batch 128,256 --global_batch 0 --steps 20 --warmup_steps 3
else  # weak scaling at 128 per device and strong scaling of a global batch of 256
  study resnet50_fp32 --model resnet50 --input_shape 224,224,3 --num_classes 1000 \
    --devices "$DEVICES" --per_device_batch 128 --global_batch 256 --steps 15 --warmup_steps 3
  study resnet50_bf16 --model resnet50 --input_shape 224,224,3 --num_classes 1000 --dtype bfloat16 \
    --devices "$DEVICES" --per_device_batch 256 --global_batch 0 --steps 15 --warmup_steps 3
fi
echo "total $(( $(date +%s) - START ))s; results in $DEST"
