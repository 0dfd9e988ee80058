#!/usr/bin/env bash
# Everything a GPU session runs, in one call of the device tool:
#   run(command="bash scripts/gpu/run_gpu.sh", carry=[".device"], timeout_s=600)
# after scripts/gpu/build_device.sh made .device/ here. Writes every log and JSON under $OUT
# (or /tmp/facekit-gpu-out when $OUT is unset) and prints a short summary at the end. Never stops at the
# first failure: each step's exit code is recorded in $OUT/steps.tsv.
#
# Steps (about 3-6 minutes on an H100; QUICK=1 skips the batch sweeps):
#   1. environment: LD_LIBRARY_PATH (.device/lib + the cuDNN/cuBLAS found), nvidia-smi
#   2. GPU tests: fk_engine_tests --gtest_filter='Cuda*:OpParity*'
#   2b. GPU exact search: fk_gallery_tests --gtest_filter='GpuSearch*', bench search exact-gpu rows
#   3. selftest fp32 / tf32 / auto / fp16 (fp16: half storage, first GPU run; auto: per model fp16
#      if its load-time accuracy check passes, the "prec" column / precision_note say which)
#   4. run-mode A/B at batch 1 and 64: staged vs resident vs graph (selftest --runs timing)
#   5. facekit bench engine --device cuda, if this facekit's bench has --device (+ a short fp16 sweep)
#   6. peers: scripts/gpu/peer_bench.py (ONNX Runtime CUDA EP, PyTorch) on fr_feature.onnx
#   7. facekit bench server --device cuda (fast and balanced tiers, batching off/on, detector
#      batching across requests off/auto, NVML report)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-${TMPDIR:-/tmp}/facekit-gpu-out}
mkdir -p "$OUT"
DEV=$ROOT/.device
BIN=${TMPDIR:-/tmp}/facekit-device   # bin/ and lib/ unpacked from .device/pack.tar.xz
FK=$BIN/bin/facekit
export FK_MODELS_DIR=$DEV/models
STEPS=$OUT/steps.tsv
: > "$STEPS"

# step NAME TIMEOUT_S CMD...: runs CMD with a time limit, output to $OUT/NAME.log (and stdout).
step() {
  local name=$1 limit=$2; shift 2
  echo "=== $name: $*" > "$OUT/$name.log"
  local t0=$(date +%s)
  timeout "$limit" "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$OUT/$name.log"
  printf '%s\t%s\t%ss\n' "$name" "$rc" "$(( $(date +%s) - t0 ))" >> "$STEPS"
  return 0
}

if [ ! -f "$DEV/pack.tar.xz" ]; then
  echo "run_gpu: $DEV/pack.tar.xz missing: run scripts/gpu/build_device.sh first and carry .device" >&2
  exit 1
fi
rm -rf "$BIN" && mkdir -p "$BIN"
tar -C "$BIN" -xJf "$DEV/pack.tar.xz" 2>/dev/null ||
  python3 -c "import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$DEV/pack.tar.xz" "$BIN" || {
  echo "run_gpu: could not unpack $DEV/pack.tar.xz" >&2; exit 1; }
cat "$DEV/BUILD_INFO" 2>/dev/null | tee "$OUT/build_info.txt"
# Weights files that travelled once (build_device.sh: byte-identical to another model's).
if [ -f "$DEV/models/dups.txt" ]; then
  while read -r copy orig; do
    [ -n "$copy" ] && [ ! -f "$DEV/models/$copy" ] && cp "$DEV/models/$orig" "$DEV/models/$copy"
  done < "$DEV/models/dups.txt"
fi

# ---- 1. environment --------------------------------------------------------------------------
# cuDNN 9 and cuBLAS (CUDA 13) are pip wheels under site-packages on the GPU machines; the toolkit
# folder may have cuBLAS too. facekit dlopens them (docs/cuda.md), so they only need to be on
# the loader path.
libdir_of() {  # first folder holding $1 (python wheel first, then a bounded search)
  local d
  d=$(python3 - "$1" 2>/dev/null <<'PY'
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for p in glob.glob(os.path.join(r, "nvidia", "*", "lib", sys.argv[1])):
        print(os.path.dirname(p)); sys.exit(0)
PY
)
  [ -n "$d" ] || d=$(find /usr/local/cuda*/ /usr/lib /opt -name "$1" 2>/dev/null | head -1 | xargs -r dirname)
  echo "$d"
}
CUDNN_DIR=$(libdir_of 'libcudnn.so.9')
CUBLAS_DIR=$(libdir_of 'libcublas.so.13')
[ -n "$CUBLAS_DIR" ] || CUBLAS_DIR=$(libdir_of 'libcublas.so.1[0-9]')
export LD_LIBRARY_PATH="$BIN/lib${CUDNN_DIR:+:$CUDNN_DIR}${CUBLAS_DIR:+:$CUBLAS_DIR}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
  echo "cuDNN dir : ${CUDNN_DIR:-(not found)}"
  echo "cuBLAS dir: ${CUBLAS_DIR:-(not found)}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  ldd "$FK" | grep -E 'not found' && echo "run_gpu: facekit has unresolved libraries (above)"
} | tee "$OUT/env.txt"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (rc $?)" >> "$OUT/nvidia-smi.txt"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv >> "$OUT/nvidia-smi.txt" 2>&1
else
  echo "no GPU: nvidia-smi not found on this machine" > "$OUT/nvidia-smi.txt"
fi
cat "$OUT/nvidia-smi.txt"
# Which nodes of a recognizer run where (a node the GPU backend refuses runs on the host: the
# runner line lists them, FK_CUDA_VERBOSE says why).
FK_CUDA_VERBOSE=1 timeout 60 "$FK" run-model "$DEV/models/human/mobileface.json" --backend cuda \
  --random 8,112,112,3 --repeat 20 > "$OUT/runner_mobileface.log" 2>&1
grep -E '^facekit' "$OUT/runner_mobileface.log" | head -20
# Sourced with ONLY_ENV=1 (scripts/gpu/diag.sh): stop after the environment is set up.
if [ "${ONLY_ENV:-0}" = 1 ]; then return 0 2>/dev/null || exit 0; fi

# ---- 2. GPU tests --------------------------------------------------------------------------------
step gpu_tests 300 "$BIN/bin/fk_engine_tests" --gtest_filter='Cuda*:OpParity*' \
  --gtest_output="xml:$OUT/gpu_tests.xml"
grep -h -E '^\[  (SKIPPED|FAILED)  *\]|no CUDA device' "$OUT/gpu_tests.log" | sort | uniq -c | head -20

# ---- 2b. GPU exact search (gallery; docs/gallery.md "GPU exact search") ------------------------
# fk_gallery_tests GpuSearch*: the exact-gpu index against exact fp32 on the CPU (top-k ids and
# scores), k up to 128, adds/removes, tiles, concurrency, memory cap, Gallery::Identify. Then
# `bench search` rows exact-gpu (fp16 rows) / exact-gpu-fp32 next to exact-fp32 and FAISS flat
# on the CPU, recall vs exact fp32 (search.md/json under $OUT/bench_search). ~1-2 min on an H100
# machine, most of it the 1M x 1024 data and the CPU rows; QUICK=1 runs fewer sizes.
if [ -x "$BIN/bin/fk_gallery_tests" ]; then
  step search_gpu_tests 180 "$BIN/bin/fk_gallery_tests" --gtest_filter='GpuSearch*' \
    --gtest_output="xml:$OUT/search_gpu_tests.xml"
else
  echo "fk_gallery_tests is not in .device/pack.tar.xz: skipped (rebuild with scripts/gpu/build_device.sh)" |
    tee "$OUT/search_gpu_tests.log"
  printf 'search_gpu_tests\tskipped\t0s\n' >> "$STEPS"
fi
if [ "${QUICK:-0}" = 1 ]; then SRCH_N="100000,1000000"; SRCH_D="128,1024"; else SRCH_N="10000,100000,1000000"; SRCH_D="128,512,1024"; fi
mkdir -p "$OUT/bench_search"
step bench_search_gpu 240 "$FK" bench search --sizes "$SRCH_N" --dims "$SRCH_D" --big-dims "$SRCH_D" --no-10m \
  --modes exact-fp32,exact-gpu,exact-gpu-fp32,faiss-flat --out-dir "$OUT/bench_search"

# ---- 3. selftest per precision -------------------------------------------------------------------
# The JSON runs print the runner's plan lines (FK_CUDA_VERBOSE: fp16 storage per plan, casts,
# convolutions cuDNN could not run in half, auto's decision per model) into the step's log.
for p in fp32 tf32 auto fp16; do
  step "selftest_$p" 300 "$FK" selftest --device cuda --precision "$p" --runs 5 --photos "$DEV/samples"
  [ "${QUICK:-0}" = 1 ] && continue  # QUICK: the table only
  FK_CUDA_VERBOSE=1 "$FK" selftest --device cuda --precision "$p" --runs 5 --photos "$DEV/samples" --json > "$OUT/selftest_$p.json" 2>> "$OUT/selftest_$p.log"
done
# fp16 under compute-sanitizer on one small model: out-of-bounds / misaligned accesses of the new
# half kernels and casts (the kernels were written without a GPU; docs/cuda.md "Precision").
if command -v compute-sanitizer > /dev/null; then
  step sanitizer_fp16 240 compute-sanitizer --tool memcheck --error-exitcode 9 \
    "$FK" selftest --device cuda --precision fp16 --only blazeface,mobileface --run resident
fi

# ---- 4. run modes A/B ------------------------------------------------------------------------------
if [ "${QUICK:-0}" != 1 ]; then
  for b in 1 64; do
    for mode in staged resident graph; do
      step "runmode_${mode}_b$b" 200 "$FK" selftest --device cuda --precision auto --run "$mode" \
        --batch "$b" --runs 20 --only blazeface,mobileface,faceres,facemesh,fr_feature --json
    done
  done
fi

# ---- 5. engine benchmark on the GPU ----------------------------------------------------------------
if "$FK" bench engine --help 2>&1 | grep -q -- '--device'; then
  step bench_engine_gpu 400 "$FK" bench engine --device cuda --out "$OUT/bench" \
    $([ "${QUICK:-0}" = 1 ] && echo --time 0.5)
  [ "${QUICK:-0}" = 1 ] || step bench_engine_gpu_fp16 200 "$FK" bench engine --device cuda --precision fp16 \
    --models mobileface,fr_feature,fr_detect --batches 1,64,512 --out "$OUT/bench_fp16"
else
  echo "bench engine has no --device flag in this build: skipped (see docs/cuda.md)" | tee "$OUT/bench_engine_gpu.log"
  printf 'bench_engine_gpu\tskipped\t0s\n' >> "$STEPS"
fi

# ---- 6. peers --------------------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then PB="1,64,512"; else PB="1,2,4,8,16,32,64,128,256,512"; fi
step peers 400 python3 scripts/gpu/peer_bench.py --model "$DEV/models/faceplugin/fr_feature.onnx" \
  --batches "$PB" --out "$OUT/peers.json"

# ---- 7. processing server on the GPU (docs/server.md) ----------------------------------------------
# facekit serve in-process with the fast and balanced tiers on cuda:0, closed-loop HTTP clients
# POSTing the sample photos, with and without dynamic batching; the JSON includes the NVML
# report (first run against a real driver) and the GPU utilisation during each row.
# ~2.5 min; SERVER=0 skips it, QUICK=1 runs the fast tier only.
if [ "${SERVER:-1}" = 1 ] && "$FK" bench server --help > /dev/null 2>&1; then
  TIERS="fast balanced"; [ "${QUICK:-0}" = 1 ] && TIERS="fast"
  for tier in $TIERS; do
    # --detect-batching 1,0: the detector per request vs shared detector runs (auto = 32 on a GPU).
    step "bench_server_$tier" 300 "$FK" bench server --device cuda --tier "$tier" --images "$DEV/samples" \
      --batching 1,32 --detect-batching 1,0 --concurrency 1,16,64 --duration 8 --warmup 3 --no-peer \
      --out "$OUT/bench_server_$tier"
  done
  # A/B: up to 4 captured CUDA graph instances per plan, so concurrent workers replay side by side
  # (default 1: all but one caller of a plan run eagerly).
  FK_CUDA_GRAPHS=4 step bench_server_fast_graphs4 240 "$FK" bench server --device cuda --tier fast \
    --images "$DEV/samples" --batching 1,32 --concurrency 16,64 --duration 8 --warmup 3 --no-peer \
    --out "$OUT/bench_server_fast_graphs4"
fi

echo "=== summary (step, exit code, seconds) — logs and JSON in $OUT"
cat "$STEPS"
# The device tool brings back only a few files: everything goes into one archive as well.
tar -C "$OUT" --exclude=results.tgz -czf "$OUT/results.tgz.part" . && mv "$OUT/results.tgz.part" "$OUT/results.tgz"
find "$OUT" -mindepth 1 -maxdepth 1 ! -name results.tgz ! -name steps.tsv -exec rm -rf {} +
