#!/bin/sh
# ctest fixture `tfjs_goldens`: generates the TF.js goldens with make_goldens.mjs.
#   ctest_goldens.sh NODE MODELS_DIR SAMPLES_DIR OUT_DIR
# Exit 77 (ctest: skipped) when node, node_modules, the models or the samples are
# missing. Regenerates only when a script, face_boxes.json or a model is newer than
# the manifest.
set -u
NODE=$1; MODELS=$2; SAMPLES=$3; OUT=$4
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { echo "tfjs_goldens: SKIPPED: $*"; exit 77; }
"$NODE" --version >/dev/null 2>&1 || skip "node not found ('$NODE'); install Node.js >= 18"
[ -d "$HERE/node_modules/@tensorflow/tfjs-backend-wasm" ] || skip "$HERE/node_modules missing; run 'npm ci' in $HERE"
[ -f "$MODELS/faceres.json" ] || skip "models not fetched ($MODELS)"
[ -d "$SAMPLES" ] || skip "sample photos missing ($SAMPLES)"

if [ -f "$OUT/manifest.json" ]; then
  stale=$(find "$HERE" -maxdepth 1 \( -name '*.mjs' -o -name '*.json' \) -newer "$OUT/manifest.json" | head -1)
  [ -z "$stale" ] && stale=$(find "$MODELS" -maxdepth 1 -newer "$OUT/manifest.json" | head -1)
  if [ -z "$stale" ]; then
    echo "tfjs_goldens: up to date ($OUT/manifest.json)"
    exit 0
  fi
fi
echo "tfjs_goldens: node $("$NODE" --version); generating into $OUT"
exec "$NODE" "$HERE/make_goldens.mjs" --models "$MODELS" --samples "$SAMPLES" --out "$OUT"
