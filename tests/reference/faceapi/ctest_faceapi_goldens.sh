#!/bin/sh
# ctest fixture `faceapi_goldens`: generates the face-api goldens with make_faceapi_goldens.mjs.
#   ctest_faceapi_goldens.sh NODE MODELS_DIR OUT_DIR [SAMPLES_DIR]
# Exit 77 (ctest: skipped) when node, node_modules or the models are missing. Regenerates
# only when the script, package files or a model are newer than the manifest.
set -u
NODE=$1; MODELS=$2; OUT=$3; SAMPLES=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { echo "faceapi_goldens: SKIPPED: $*"; exit 77; }
"$NODE" --version >/dev/null 2>&1 || skip "node not found ('$NODE'); install Node.js >= 18"
[ -d "$HERE/node_modules/@vladmandic/face-api" ] || skip "$HERE/node_modules missing; run 'npm ci' in $HERE"
[ -f "$MODELS/face_recognition_model-weights_manifest.json" ] || skip "face-api models not fetched ($MODELS)"

if [ -f "$OUT/manifest.json" ]; then
  stale=$(find "$HERE" -maxdepth 1 \( -name '*.mjs' -o -name '*.json' \) -newer "$OUT/manifest.json" | head -1)
  [ -z "$stale" ] && stale=$(find "$MODELS" -maxdepth 1 -newer "$OUT/manifest.json" | head -1)
  [ -z "$stale" ] && [ "$HERE/../face_boxes.json" -nt "$OUT/manifest.json" ] && stale=face_boxes.json
  if [ -z "$stale" ]; then
    echo "faceapi_goldens: up to date ($OUT/manifest.json)"
    exit 0
  fi
fi
echo "faceapi_goldens: node $("$NODE" --version); generating into $OUT"
if [ -n "$SAMPLES" ] && [ -d "$SAMPLES" ]; then
  exec "$NODE" "$HERE/make_faceapi_goldens.mjs" --models "$MODELS" --samples "$SAMPLES" --out "$OUT"
fi
exec "$NODE" "$HERE/make_faceapi_goldens.mjs" --models "$MODELS" --out "$OUT"
