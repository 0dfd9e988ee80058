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
  echo "quickstart: every face in the sample photos, with age, gender, emotion and liveness scores (facekit detect --attributes all; --json for machine output)"
  "$FK" detect "$ROOT"/data/samples/*.jpg --attributes all
  echo "quickstart: 1:1 verification of two sample photos"
  "$FK" verify "$ROOT"/data/samples/sample1.jpg "$ROOT"/data/samples/sample2.jpg || true
  if grep -q "^  serve " <<<"$HELP" && command -v curl >/dev/null; then
    # The processing server: start it on a free port, send one photo over HTTP, stop it.
    echo "quickstart: the HTTP server (facekit serve; docs/server.md) on one sample photo"
    LOG="$(mktemp)"
    "$FK" serve --auth none --port 0 >"$LOG" 2>&1 &
    SRV=$!
    PORT=""
    for _ in $(seq 1 100); do
      PORT="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG")"
      [[ -n "$PORT" ]] && break
      sleep 0.2
    done
    if [[ -n "$PORT" ]]; then
      curl -s --data-binary @"$ROOT/data/samples/sample1.jpg" -H "Content-Type: image/jpeg" \
        "http://127.0.0.1:$PORT/v1/faces?templates=0" |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
          console.log("  POST /v1/faces sample1.jpg -> " + j.faces.length + " faces, boxes " +
          j.faces.map(f=>"["+f.box.map(v=>Math.round(v)).join(",")+"]").join(" "));})' || true
    else
      echo "  the server did not start:"; sed 's/^/  /' "$LOG"
    fi
    kill -TERM "$SRV" 2>/dev/null || true
    wait "$SRV" 2>/dev/null || true
    rm -f "$LOG"
  fi
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
