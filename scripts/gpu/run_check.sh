#!/usr/bin/env bash
# Selftest at every precision (text + auto JSON), the server on the GPU (fast and balanced, batching
# on, detector batching off/auto, 16 and 64 clients) and diag.sh fr_feature, in one device call:
#   run(command="bash scripts/gpu/run_check.sh", carry=[".device"])   (~4 min on an H100)
# SERVER=0 / SPEED=0 / DIAG=0 leave out the server rows / eval speed / the diag (the selftests alone:
# ~1 min); SERVER_AB=1 adds the server A/B of FK_CUDA_GRAPHS=4 and FK_PAD_BATCH=0, SYNC_AB=1 the
# FK_CUDA_SYNC=auto|block|yield A/B (server rows, template latency); CROPS_AB=1 the FK_MODEL_CROPS=0|1
# A/B (crops cut on the GPU: eval speed's step table, server rows with their step table and the
# batch workers' busy share, the RunWarps GPU test); SELFTEST=0 skips the selftests; GPU_TESTS=1 runs
# fk_engine_tests' Cuda*/OpParity* tests first; UPLOAD_AB=1 the crops' uploads (FK_CROP_UPLOAD); DECODE_AB=1
# nvJPEG decoding vs the CPU (FK_GPU_DECODE); WORKERS_AB=1 the server with 2/4/8 batch workers x 2/4
# detector workers.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONUNBUFFERED=1
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null 2>&1
# GPU_TESTS=1: every GPU op/parity test first (after kernel changes).
if [ "${GPU_TESTS:-0}" = 1 ]; then
  step gpu_tests 90 "$BIN/bin/fk_engine_tests" --gtest_filter='Cuda*:OpParity*'
  grep -h -E '^\[  (SKIPPED|FAILED)  *\]|tests ran|PASSED' "$OUT/gpu_tests.log" | sort | uniq -c | head -20
fi
# GPU_JPEG=1: nvJPEG against the CPU decoder (fk_pipeline_tests' GpuJpeg.*; build .device with
# BINS="fk_pipeline_tests" MODELS=0 scripts/gpu/build_device.sh when only this runs).
if [ "${GPU_JPEG:-0}" = 1 ]; then
  FK_SAMPLES_DIR=$DEV/samples step gpu_jpeg 60 "$BIN/bin/fk_pipeline_tests" --gtest_filter='GpuJpeg*'
  grep -E '^\[gpu jpeg\]|^\[ +(OK|FAILED|SKIPPED|PASSED) ' "$OUT/gpu_jpeg.log"
fi
[ "${SELFTEST:-1}" = 1 ] && for p in fp32 tf32 auto fp16; do
  step "selftest_$p" 60 "$FK" selftest --device cuda --precision "$p" --runs 5 --photos "$DEV/samples" > /dev/null
  grep -E '^(detector|pipeline)|models pass' "$OUT/selftest_$p.log"
done
[ "${SELFTEST:-1}" = 1 ] && FK_CUDA_VERBOSE=1 "$FK" selftest --device cuda --precision auto --runs 5 --photos "$DEV/samples" --json \
  > "$OUT/selftest_auto.json" 2> "$OUT/selftest_auto_json.err"
[ "${SERVER:-1}" = 1 ] && for t in ${SERVER_TIERS:-fast balanced}; do
  step "server_$t" 100 "$FK" bench server --device cuda --tier "$t" --images "$DEV/samples" --batching 32 \
    --detect-batching 1,0 --concurrency 16,64 --duration 6 --warmup 3 --no-peer --out "$OUT/server_$t" > /dev/null
  grep -E '^\| facekit' "$OUT/server_$t.log"
done
# The tiers on the GPU end to end, each tier's template latency (one face per Embed call) and the
# CPU time per stage (what is left on the host with the models on the GPU).
[ "${SPEED:-1}" = 1 ] && step speed_tiers 120 "$FK" eval speed --images "$DEV/samples" --tier all --device cuda \
  --peer none --repeat 3 --template-latency 50 --stages --out "$OUT/speed" > /dev/null
# The CPU time per stage with threads sleeping while the GPU works (FK_CUDA_SYNC=block): with the
# default (spin) the waits count as CPU time, which hides what GPU pre-processing would save.
[ "${SPEED:-1}" = 1 ] && FK_CUDA_SYNC=block step speed_stages_block 120 "$FK" eval speed --images "$DEV/samples" \
  --tier fast,balanced --device cuda --peer none --repeat 2 --stages --out "$OUT/speed_block" > /dev/null
# Server A/B of two switches added without a GPU: FK_CUDA_GRAPHS=4 (default 2), FK_PAD_BATCH=0 (default on).
if [ "${SERVER_AB:-0}" = 1 ]; then
  for ab in default graphs4 pad0; do
    case $ab in default) e="" ;; graphs4) e="FK_CUDA_GRAPHS=4" ;; pad0) e="FK_PAD_BATCH=0" ;; esac
    step "server_ab_$ab" 60 env $e "$FK" bench server --device cuda --tier balanced --images "$DEV/samples" \
      --batching 32 --concurrency 16,64 --duration 6 --warmup 3 --no-peer --out "$OUT/server_ab_$ab" > /dev/null
    grep -E '^\| facekit' "$OUT/server_ab_$ab.log"
  done
fi
# How threads wait for the GPU (FK_CUDA_SYNC, default: the runtime's auto = spin here): server rows
# and the balanced tier's template latency per mode.
if [ "${SYNC_AB:-0}" = 1 ]; then
  for m in auto block yield; do
    e=""; [ "$m" != auto ] && e="FK_CUDA_SYNC=$m"
    step "sync_server_$m" 60 env $e "$FK" bench server --device cuda --tier balanced --images "$DEV/samples" \
      --batching 32 --concurrency 16,64 --duration 6 --warmup 3 --no-peer --out "$OUT/sync_server_$m" > /dev/null
    grep -E '^\| facekit' "$OUT/sync_server_$m.log"
    step "sync_latency_$m" 60 env $e "$FK" eval speed --images "$DEV/samples" --tier fast,balanced --device cuda \
      --peer none --repeat 2 --template-latency 50 --out "$OUT/sync_speed_$m" > /dev/null
    grep -E 'template latency|photos/s' "$OUT/sync_latency_$m.log"
  done
fi
# Crops on the GPU (Model::RunWarps, FK_MODEL_CROPS=1; written without a GPU in session 10): the GPU
# test first, then the step tables and server rows with and without, interleaved.
if [ "${CROPS_AB:-0}" = 1 ]; then
  step crops_test 60 "$BIN/bin/fk_engine_tests" --gtest_filter='CudaModelLoad.RunWarps*:PixelInput.*'
  grep -E '^\[ +(OK|FAILED|SKIPPED) ' "$OUT/crops_test.log"
  for c in 0 1 0 1; do
    step "crops_speed_$c" 60 env FK_MODEL_CROPS=$c "$FK" eval speed --images "$DEV/samples" --tier fast,balanced \
      --device cuda --peer none --repeat 3 --out "$OUT/crops_speed_$c" > /dev/null
    grep -E 'photos/s' "$OUT/crops_speed_$c.log"
    step "crops_server_$c" 60 env FK_MODEL_CROPS=$c "$FK" bench server --device cuda --tier balanced \
      --images "$DEV/samples" --batching 32 --concurrency 16,64 --duration 6 --warmup 3 --no-peer \
      --out "$OUT/crops_server_$c" > /dev/null
    grep -E '^\| (facekit|32) ' "$OUT/crops_server_$c.log"
  done
  FK_MODEL_CROPS=1 step crops_selftest 60 "$FK" selftest --device cuda --precision auto --runs 5 --photos "$DEV/samples" > /dev/null
  grep -E '^(detector|pipeline)|models pass' "$OUT/crops_selftest.log"
fi
# ab_server NAME VAR V1 V2...: the balanced server once per value of $VAR, in order (interleave the
# values for an A/B), then the fast tier and the tiers' latency with the defaults.
ab_server() {
  local name=$1 var=$2 k=0 v
  shift 2
  for v in "$@"; do
    k=$((k + 1))
    step "${name}_${k}_$v" 60 env "$var=$v" "$FK" bench server --device cuda --tier balanced \
      --images "$DEV/samples" --batching 32 --concurrency 16,64 --duration 6 --warmup 3 --no-peer \
      --out "$OUT/${name}_${k}_$v" > /dev/null
    grep -E '^\| (facekit|32) ' "$OUT/${name}_${k}_$v.log"
  done
  step "${name}_fast" 60 "$FK" bench server --device cuda --tier fast --images "$DEV/samples" --batching 32 \
    --concurrency 16,64 --duration 6 --warmup 3 --no-peer --out "$OUT/${name}_fast" > /dev/null
  grep -E '^\| (facekit|32) ' "$OUT/${name}_fast.log"
  step "${name}_speed" 60 "$FK" eval speed --images "$DEV/samples" --tier all --device cuda --peer none --repeat 3 \
    --template-latency 50 --out "$OUT/${name}_speed" > /dev/null
  grep -E 'photos/s|latency' "$OUT/${name}_speed.log"
}
# What the crops upload (FK_CROP_UPLOAD=photo: whole photos; default: each crop's footprint when
# the crops of a photo cover less than half of it).
[ "${UPLOAD_AB:-0}" = 1 ] && ab_server upload FK_CROP_UPLOAD footprint photo footprint photo
# JPEG decoding on the GPU (FaceConfig::gpu_decode, nvJPEG; FK_GPU_DECODE=1) against the CPU (0).
[ "${DECODE_AB:-0}" = 1 ] && ab_server decode FK_GPU_DECODE 1 0 1 0
# How many threads feed the GPU: pipeline batch workers x detector batch workers (defaults 2 x 2).
if [ "${WORKERS_AB:-0}" = 1 ]; then
  k=0
  for wd in 2x2 4x2 4x4 8x4 2x2; do  # the default again last: drift
    w=${wd%x*}; d=${wd#*x}; k=$((k + 1)); wd="${k}_${wd}"
    step "workers_${wd}" 60 "$FK" bench server --device cuda --tier balanced --images "$DEV/samples" --batching 32 \
      --workers "$w" --detect-workers "$d" --concurrency 16,64 --duration 6 --warmup 3 --no-peer --out "$OUT/workers_${wd}" > /dev/null
    grep -E '^\| (facekit|32) ' "$OUT/workers_${wd}.log"
  done
fi
[ "${DIAG:-1}" = 1 ] && timeout 90 bash "$ROOT/scripts/gpu/diag.sh" fr_feature:128,112,112,3 > "$OUT/diag.log" 2>&1
cat "$STEPS"
tar -C "$OUT" --exclude=results.tgz -czf /tmp/r.tgz . && find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} + &&
  mv /tmp/r.tgz "$OUT/results.tgz"
