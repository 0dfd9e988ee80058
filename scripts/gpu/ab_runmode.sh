#!/usr/bin/env bash
# A/B of the CUDA run modes (resident vs graph) in bench engine for the recognizers, the runner
# description per mode, and the PyTorch peer; one device call (~2 min):
#   run(command="bash scripts/gpu/ab_runmode.sh", carry=[".device"])
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null 2>&1
for m in resident graph; do
  export FK_CUDA_RUN=$m
  step "bench_$m" 70 "$FK" bench engine --device cuda --models "${MODELS:-mobileface,fr_feature,faceapi-resnet}" \
    --batches "${BATCHES:-1,8,128,512}" --time 0.3 --cpu-max-batch 8 --out "$OUT/bench_$m" > /dev/null
  FK_CUDA_VERBOSE=1 timeout 30 "$FK" run-model "$DEV/models/human/mobileface.json" --backend cuda \
    --random 1,112,112,3 --repeat 50 2>&1 | grep -E '^facekit' > "$OUT/runmodel_$m.log"
done
unset FK_CUDA_RUN
step peers 70 python3 "$ROOT/scripts/gpu/peer_bench.py" --model "$DEV/models/faceplugin/fr_feature.onnx" \
  --batches "${BATCHES:-1,8,128,512}" --seconds 0.3 --out "$OUT/peers.json" > /dev/null
cat "$STEPS" "$OUT"/runmodel_*.log
grep -h -E '^\| (mobileface|fr_feature|faceapi)' "$OUT"/bench_*/engine-gpu.md
tar -C "$OUT" -czf /tmp/ab.tgz . && find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} + && mv /tmp/ab.tgz "$OUT/results.tgz"
