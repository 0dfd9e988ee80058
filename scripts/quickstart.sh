#!/usr/bin/env bash
# The one command for a new user: installs what is needed, fetches the models and sample
# photos, builds facekit, and runs the main job on the sample photos.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FK_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/install_deps.sh"
"$ROOT/scripts/fetch_models.sh"
"$ROOT/scripts/build.sh"
FK="$BUILD/facekit"
export FK_MODELS_DIR="$ROOT/models"
HELP="$("$FK" --help 2>&1 || true)"
if grep -q "^  detect " <<<"$HELP"; then
  # The face pipeline: every face in every sample photo, with templates.
  echo "quickstart: every face in the sample photos (facekit detect; --json for machine output)"
  "$FK" detect "$ROOT"/data/samples/*.jpg
  echo "quickstart: 1:1 verification of two sample photos"
  "$FK" verify "$ROOT"/data/samples/sample1.jpg "$ROOT"/data/samples/sample2.jpg || true
else
  # The engine's model runner on every face model (the pipeline has not landed yet).
  echo "quickstart: running every face model on the CPU backend"
  for m in "$ROOT"/models/human/*.json; do
    name="$(basename "$m" .json)"
    shape="$(node -e '
const m=JSON.parse(require("fs").readFileSync(process.argv[1]));
const n=m.modelTopology.node.find(x=>x.op==="Placeholder");
const d=n.attr.shape.shape.dim.map(x=>Number(x.size??-1)); d[0]=1; console.log(d.join(","));' "$m")"
    echo "== $name [$shape]"
    "$FK" run-model "$m" --random "$shape" | sed 's/^/   /'
  done
fi
