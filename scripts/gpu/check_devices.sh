#!/usr/bin/env bash
# The device-selection messages on a real GPU machine (docs/cuda.md troubleshooting table), one
# device call (~1 min): run(command="bash scripts/gpu/check_devices.sh", carry=[".device"]).
# CUDA_VISIBLE_DEVICES hiding the GPU, a gpu_index past the visible devices, a GPU named by UUID,
# allow_cpu_fallback, and the GPU tests with the GPU hidden (they must skip with the no-GPU message).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null 2>&1
S=$DEV/samples/sample1.jpg
{
  nvidia-smi -L
  echo "## 1. CUDA_VISIBLE_DEVICES=-1, --device cuda"
  CUDA_VISIBLE_DEVICES=-1 "$FK" detect "$S" --device cuda --quiet 2>&1 | head -3; echo "exit ${PIPESTATUS[0]}"
  echo "## 2. --device cuda:1 with one GPU"
  "$FK" detect "$S" --device cuda:1 --quiet 2>&1 | head -3; echo "exit ${PIPESTATUS[0]}"
  echo "## 3. CUDA_VISIBLE_DEVICES=0, --device cuda:0"
  CUDA_VISIBLE_DEVICES=0 "$FK" detect "$S" --device cuda:0 --quiet 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "## 4. CUDA_VISIBLE_DEVICES=<the GPU's UUID>, --device cuda"
  uuid=$(nvidia-smi -L | sed -n 's/.*(UUID: \(.*\))/\1/p' | head -1)
  CUDA_VISIBLE_DEVICES=$uuid "$FK" detect "$S" --device cuda --quiet 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "## 5. CUDA_VISIBLE_DEVICES=-1, --device cuda --cpu-fallback"
  CUDA_VISIBLE_DEVICES=-1 "$FK" detect "$S" --device cuda --cpu-fallback --quiet 2>&1 | sort | uniq -c | head -4; echo "exit ${PIPESTATUS[0]}"
  echo "## 6. GPU tests with the GPU hidden"
  CUDA_VISIBLE_DEVICES=-1 "$BIN/bin/fk_engine_tests" --gtest_filter='Cuda*' 2>&1 | grep -E 'SKIPPED|PASSED|FAILED|no GPU' | sort | uniq -c | sort -rn | head -6
  echo "## 7. nvJPEG on this machine"
  ls /usr/local/cuda/include/nvjpeg.h /usr/local/cuda/lib64/libnvjpeg.so* 2>&1 | head -4
} 2>&1 | tee "$OUT/check_devices.log"
