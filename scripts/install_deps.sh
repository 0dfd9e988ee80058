#!/usr/bin/env bash
# Install the Debian packages facekit builds against, and the Node packages of the
# TF.js / ONNX Runtime reference runners (tests/reference). Idempotent: does nothing
# (and asks no registry) when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates openssl
  libdnnl-dev nlohmann-json3-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libexif-dev
  libsqlite3-dev libopenblas-dev libfaiss-dev libpq-dev postgresql
  libcpp-httplib-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
# Node.js + npm run the reference runners; any install of them will do (Debian's or another).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node reference runners (pinned in package-lock.json).
for dir in "$ROOT"/tests/reference "$ROOT"/tests/reference/onnx "$ROOT"/tests/reference/faceapi "$ROOT"/tests/reference/human; do
  if [[ -f "$dir/package.json" ]]; then
    stamp="$dir/node_modules/.facekit-stamp"
    lock="$dir/package-lock.json"
    if [[ ! -f "$stamp" || "$lock" -nt "$stamp" ]]; then
      echo "install_deps: npm ci in ${dir#$ROOT/}" >&2
      # --prefer-offline: packages already in npm's cache are not fetched again; a registry
      # hiccup (seen: EIDLETIMEOUT) is retried twice before it fails the install.
      ok=0
      for attempt in 1 2 3; do
        if (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --ignore-scripts --loglevel=error); then
          ok=1
          break
        fi
        echo "install_deps: npm ci in ${dir#$ROOT/} failed (attempt $attempt of 3)" >&2
        sleep $((attempt * 10))
      done
      [[ $ok == 1 ]] || { echo "install_deps: npm ci in ${dir#$ROOT/} failed 3 times (network?)" >&2; exit 1; }
      touch "$stamp"
    fi
  fi
done
