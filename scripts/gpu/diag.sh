#!/usr/bin/env bash
# GPU diagnostics for a slow or failing model, one device call (after build_device.sh):
#   run(command="bash scripts/gpu/diag.sh mobileface:8,112,112,3 blazeface-back:1,256,256,3", carry=[".device"])
# Per MODEL:SHAPE (a file under .device/models/human/ or faceplugin/): run-model on the GPU in
# staged mode with FK_PROFILE=1 (per-node times, every node synchronised), resident and graph
# mode timings with process CPU time, the runner description (FK_CUDA_VERBOSE), an nsys
# kernel/API summary when nsys exists (the H100 machines have none) and ncu's per-kernel GPU time
# summary (they have ncu). PRECISION=fp32|tf32|fp16 (default fp16, what auto picks for the
# recognizers). Everything into $OUT/diag.tgz.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null
D=$OUT/diag
mkdir -p "$D"
{ for t in nsys ncu gdb perf; do printf '%s: %s\n' "$t" "$(command -v $t || echo none)"; done; } > "$D/tools.txt"
NSYS=$(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
for spec in "$@"; do
  m=${spec%%:*}; shape=${spec#*:}
  f=$(ls "$DEV"/models/*/"$m".json "$DEV"/models/*/"$m".onnx 2>/dev/null | head -1)
  [ -n "$f" ] || { echo "diag: no model $m" | tee -a "$D/errors.txt"; continue; }
  for mode in staged resident graph; do
    echo "== $m $shape $mode" >> "$D/$m.txt"
    FK_CUDA_RUN=$mode FK_CUDA_VERBOSE=1 FK_PROFILE=$([ $mode = staged ] && echo 1 || echo 0) timeout 120 \
      "$FK" run-model "$f" --backend cuda --precision "${PRECISION:-fp16}" --random "$shape" --repeat 20 >> "$D/$m.txt" 2>&1
  done
  if [ -n "$NSYS" ]; then
    timeout 180 "$NSYS" profile -o "$D/$m" --force-overwrite true --stats=true \
      "$FK" run-model "$f" --backend cuda --precision "${PRECISION:-fp16}" --random "$shape" --repeat 20 > "$D/$m.nsys.txt" 2>&1
    rm -f "$D/$m.nsys-rep"
  fi
  # Per-kernel GPU time (ncu replays each kernel once per metric pass: keep the run short).
  if command -v ncu > /dev/null; then
    FK_CUDA_RUN=resident timeout 240 ncu --metrics gpu__time_duration.sum --print-summary per-kernel \
      "$FK" run-model "$f" --backend cuda --precision "${PRECISION:-fp16}" --random "$shape" --repeat 2 > "$D/$m.ncu.txt" 2>&1
    grep -E '^ +[A-Za-z_].*\(|gpu__time_duration' "$D/$m.ncu.txt" | head -80 > "$D/$m.ncu-summary.txt"
  fi
  tail -n 30 "$D/$m.txt"
done
tar -C "$OUT" -czf "$OUT/diag.tgz" diag && rm -rf "$D"
