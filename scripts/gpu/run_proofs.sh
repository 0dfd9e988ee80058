#!/usr/bin/env bash
# The issue-5 proofs alone, when device time is short (~3-4 min on an H100):
#   run(command="bash scripts/gpu/run_proofs.sh", carry=[".device"])
# GPU op/parity tests, the selftest at each precision, bench engine --device cuda (short cells)
# and the ONNX Runtime / PyTorch peers on fr_feature; results in $OUT/results.tgz. SERVER=1 adds
# bench server (fast, balanced) with the defaults, the host's CPU topology and a search for nvJPEG.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh"
B=${BATCHES:-1,8,32,128,512}
step gpu_tests 90 "$BIN/bin/fk_engine_tests" --gtest_filter='Cuda*:OpParity*'
grep -h -E '^\[  (SKIPPED|FAILED)  *\]' "$OUT/gpu_tests.log" | sort | uniq -c | head -20
for p in fp32 tf32 auto fp16; do
  step "selftest_$p" 90 "$FK" selftest --device cuda --precision "$p" --runs 5 --photos "$DEV/samples"
done
# The scalar depthwise kernel (FK_CUDA_DW=scalar; the vectorised one is the default) must keep passing.
FK_CUDA_DW=scalar step selftest_auto_dwscalar 90 "$FK" selftest --device cuda --precision auto --runs 5 --photos "$DEV/samples"
step bench_engine_gpu 150 "$FK" bench engine --device cuda --out "$OUT/bench" --time "${CELL:-0.3}" --batches "$B"
# The tiers end to end (decode, detect, landmarks, templates) on the GPU, per photo: the accurate
# tier's latency as one pipeline (fr_feature + face-api ResNet, flip TTA on both).
step speed_tiers 120 "$FK" eval speed --images "$DEV/samples" --tier all --device cuda --peer none --repeat 3 --template-latency 50 \
  --out "$OUT/speed"
step peers 120 python3 "$ROOT/scripts/gpu/peer_bench.py" --model "$DEV/models/faceplugin/fr_feature.onnx" \
  --batches "$B" --out "$OUT/peers.json"
# SERVER=1: the server on the GPU with its defaults (fast and balanced tiers, 16 and 64 clients).
if [ "${SERVER:-0}" = 1 ]; then
  for t in fast balanced; do
    step "server_$t" 60 "$FK" bench server --device cuda --tier "$t" --images "$DEV/samples" --batching 32 \
      --concurrency 16,64 --duration 6 --warmup 3 --no-peer --out "$OUT/server_$t" > /dev/null
    grep -E '^\| (facekit|32) ' "$OUT/server_$t.log"
  done
  { nproc; lscpu | grep -E '^(Model name|Thread|Core|Socket|CPU\(s\))'; } > "$OUT/cpu.txt" 2>&1
  find / -xdev -name 'libnvjpeg*' 2>/dev/null | head -5 >> "$OUT/cpu.txt"
  cat "$OUT/cpu.txt"
fi
cat "$STEPS"
tar -C "$OUT" -czf /tmp/results.tgz . && find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} + && mv /tmp/results.tgz "$OUT/results.tgz"
