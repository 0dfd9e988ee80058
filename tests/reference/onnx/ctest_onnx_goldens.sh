#!/bin/sh
# ctest fixture `onnx_goldens`: generates the ONNX Runtime goldens with make_onnx_goldens.mjs.
#   ctest_onnx_goldens.sh NODE MODELS_DIR OUT_DIR
# Exit 77 (ctest: skipped) when node, node_modules or the models are missing.
# Regenerates only when a script or a model is newer than the manifest.
set -u
NODE=$1; MODELS=$2; OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { echo "onnx_goldens: SKIPPED: $*"; exit 77; }
"$NODE" --version >/dev/null 2>&1 || skip "node not found ('$NODE'); install Node.js >= 18"
[ -d "$HERE/node_modules/onnxruntime-web" ] || skip "$HERE/node_modules missing; run 'npm ci' in $HERE"
[ -f "$MODELS/fr_feature.onnx" ] || skip "faceplugin models not fetched ($MODELS)"

if [ -f "$OUT/manifest.json" ]; then
  stale=$(find "$HERE" -maxdepth 1 \( -name '*.mjs' -o -name '*.json' \) -newer "$OUT/manifest.json" | head -1)
  [ -z "$stale" ] && stale=$(find "$MODELS" -maxdepth 1 -name '*.onnx' -newer "$OUT/manifest.json" | head -1)
  if [ -z "$stale" ]; then
    echo "onnx_goldens: up to date ($OUT/manifest.json)"
    exit 0
  fi
fi
echo "onnx_goldens: node $("$NODE" --version); generating into $OUT"
exec "$NODE" "$HERE/make_onnx_goldens.mjs" --models "$MODELS" --out "$OUT"
