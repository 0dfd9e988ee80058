#!/usr/bin/env bash
# A/B in one device call (~3 min), bench engine on the recognizers per variant:
#   resident   FK_CUDA_RUN=resident (host enqueues every node per run)
#   graph      the default (CUDA Graph replay)
#   index64    graph + FK_CUDA_INDEX64=1 (64-bit index math in the element-wise/direct kernels, as
#              before session 5's 32-bit paths)
#   find       graph + FK_CUDNN_FIND=1 (cuDNN algorithms timed at plan instead of heuristics)
#   dwscalar   graph + FK_CUDA_DW=scalar (the scalar depthwise kernel; the vectorised one, 4-8 channels
#              per thread, is the default since session 9)
#   tf32       graph, --precision tf32 instead of auto (fp16 for these models): PyTorch's fp32
#              (TF32 convolutions) beat its own fp16 autocast on fr_feature at batch >= 128
#   tf32 with the default (vectorised) depthwise kernel
# (every variant's table has the "pixels inputs/s" column: 8-bit inputs normalised on the GPU),
# then eval speed of the fast and balanced tiers on the GPU with FK_PIXEL_INPUTS=1 (default) and 0.
# plus the runner description per mode and the PyTorch peer:
#   run(command="bash scripts/gpu/ab_runmode.sh", carry=[".device"])   VARIANTS="graph find" to narrow
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null 2>&1
for v in ${VARIANTS:-resident graph index64 find dwscalar tf32}; do
  export FK_CUDA_RUN=graph
  unset FK_CUDA_INDEX64 FK_CUDNN_FIND FK_CUDA_DW
  prec=auto
  case $v in
    tf32) prec=tf32 ;;
    resident) export FK_CUDA_RUN=resident ;;
    index64) export FK_CUDA_INDEX64=1 ;;
    find) export FK_CUDNN_FIND=1 ;;
    dwscalar) export FK_CUDA_DW=scalar ;;
  esac
  step "bench_$v" 90 "$FK" bench engine --device cuda --precision $prec --models "${MODELS:-mobileface,fr_feature,faceapi-resnet}" \
    --batches "${BATCHES:-1,8,128,512}" --time 0.3 --cpu-max-batch 8 --out "$OUT/bench_$v" > /dev/null
  FK_CUDA_VERBOSE=1 timeout 30 "$FK" run-model "$DEV/models/human/mobileface.json" --backend cuda \
    --random 1,112,112,3 --repeat 50 2>&1 | grep -E '^facekit' > "$OUT/runmodel_$v.log"
done
unset FK_CUDA_INDEX64 FK_CUDNN_FIND FK_CUDA_DW
unset FK_CUDA_RUN
# The pipeline on the GPU with 8-bit model inputs (the default there) and with floats.
for px in 1 0; do
  FK_PIXEL_INPUTS=$px step "speed_pixels$px" 90 "$FK" eval speed --images "$DEV/samples" --tier fast,balanced \
    --device cuda --peer none --repeat 3 --out "$OUT/speed_pixels$px" > /dev/null
done
step peers 70 python3 "$ROOT/scripts/gpu/peer_bench.py" --model "$DEV/models/faceplugin/fr_feature.onnx" \
  --batches "${BATCHES:-1,8,128,512}" --seconds 0.3 --out "$OUT/peers.json" > /dev/null
cat "$STEPS" "$OUT"/runmodel_*.log
for f in "$OUT"/bench_*/engine-gpu.md; do echo "== $f"; grep -h -E '^\| (mobileface|fr_feature|faceapi)' "$f"; done
tar -C "$OUT" -czf /tmp/ab.tgz . && find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} + && mv /tmp/ab.tgz "$OUT/results.tgz"
