#!/usr/bin/env bash
# A follow-up device call after run_proofs.sh (~8-9 min on an H100), everything under a time budget
# so that the call ends inside the device tool's 10-minute limit (BUDGET seconds, default 540):
#   run(command="bash scripts/gpu/run_followup.sh", carry=[".device"])
# 1. GPU op tests and selftest auto / fp32 (the proofs again, after a fix)
# 2. bench engine --device cuda on the detectors and recognizers (batch 1..128)
# 3. the run-mode A/B of ab_runmode.sh (VARIANTS, default: graph find dwscalar tf32 index64)
# 4. diag.sh fr_feature:128,112,112,3 (ncu per kernel, fp16)
# 5. bench server --device cuda, fast tier (QUICK step 7 of run_gpu.sh), then balanced if time is left
# Results in $OUT/results.tgz; steps.tsv says what ran and what the budget skipped.
# TESTS=0 skips 1, BENCH=0 skips 2, SERVER_TIERS="balanced" narrows 5; VARIANTS may also name
# biasact_scalar (FK_CUDA_BIASACT=scalar: the scalar bias + activation pass).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T0=$(date +%s)
BUDGET=${BUDGET:-540}
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null 2>&1
left() { echo $(( BUDGET - ( $(date +%s) - T0 ) )); }
# try NAME LIMIT CMD...: step() when at least LIMIT seconds of the budget are left, else skipped.
try() {
  local name=$1 limit=$2
  if [ "$(left)" -lt "$limit" ]; then printf '%s\tskipped (budget)\t0s\n' "$name" >> "$STEPS"; return 0; fi
  step "$@"
}
if [ "${TESTS:-1}" = 1 ]; then
  try gpu_tests 60 "$BIN/bin/fk_engine_tests" --gtest_filter='Cuda*:OpParity*'
  grep -h -E '^\[  (SKIPPED|FAILED)  *\]' "$OUT/gpu_tests.log" | sort | uniq -c | head -20
  for p in auto fp32; do
    try "selftest_$p" 60 "$FK" selftest --device cuda --precision "$p" --runs 5 --photos "$DEV/samples"
  done
fi
[ "${BENCH:-1}" = 1 ] && try bench_engine 120 "$FK" bench engine --device cuda --out "$OUT/bench" --time 0.3 --batches 1,8,32,128 \
  --models fr_detect,blazeface-back,facemesh,mobileface,fr_feature,faceapi-resnet
for v in ${VARIANTS:-graph find dwscalar tf32 index64}; do
  unset FK_CUDA_INDEX64 FK_CUDNN_FIND FK_CUDA_DW FK_CUDA_BIASACT
  prec=auto
  case $v in
    tf32) prec=tf32 ;;
    index64) export FK_CUDA_INDEX64=1 ;;
    find) export FK_CUDNN_FIND=1 ;;
    dwscalar) export FK_CUDA_DW=scalar ;;
    biasact_scalar) export FK_CUDA_BIASACT=scalar ;;
  esac
  try "ab_$v" 45 "$FK" bench engine --device cuda --precision $prec --models mobileface,fr_feature,faceapi-resnet \
    --batches 1,8,128,512 --time 0.3 --cpu-max-batch 1 --out "$OUT/ab_$v"
done
unset FK_CUDA_INDEX64 FK_CUDNN_FIND FK_CUDA_DW FK_CUDA_BIASACT
if [ "$(left)" -ge 90 ]; then
  timeout 80 bash "$ROOT/scripts/gpu/diag.sh" fr_feature:128,112,112,3 > "$OUT/diag.log" 2>&1
  printf 'diag\t%s\t-\n' "$?" >> "$STEPS"
fi
for tier in ${SERVER_TIERS:-fast balanced}; do
  try "bench_server_$tier" 170 "$FK" bench server --device cuda --tier "$tier" --images "$DEV/samples" \
    --batching 1,32 --detect-batching 1,0 --concurrency 1,16,64 --duration 6 --warmup 3 --no-peer \
    --out "$OUT/bench_server_$tier"
done
cat "$STEPS"
for f in "$OUT"/ab_*/engine-gpu.md "$OUT"/bench/engine-gpu.md; do
  [ -f "$f" ] && { echo "== $f"; grep -h -E '^\| [a-z]' "$f"; }
done
tar -C "$OUT" --exclude=results.tgz -czf /tmp/results.tgz . && find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} + &&
  mv /tmp/results.tgz "$OUT/results.tgz"
