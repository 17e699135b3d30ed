python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
export PYTHONUNBUFFERED=1 D=/tmp/devout; mkdir -p $D
(nvidia-smi; python3 -c "import jax, torch; print(jax.devices(), torch.__version__)") > $D/env.txt 2>&1
timeout 290 python3 benchmarks/accelerator/resnet50_vs_torch.py --budget-s 270 --out $D/r50 2>&1 | tee $D/r50.log
OUT=$D/scale BUDGET_S=225 timeout 240 benchmarks/accelerator/scale_resnet50.sh 2>&1 | tee $D/scale.log
tar czf $OUT/accelerator.tgz -C $D . ; cp $D/r50/resnet50_vs_torch.md $OUT/ 2>/dev/null; ls -R $D | head -40
