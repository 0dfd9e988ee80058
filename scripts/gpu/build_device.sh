#!/usr/bin/env bash
# Builds facekit with CUDA (sm_90) on this Debian machine and assembles .device/, the folder the
# GPU machine gets (device tool: run with carry [".device"]). See ../shared/GPU.md, docs/cuda.md.
#
#   scripts/gpu/build_device.sh            # build dir build-gpu (configured if needed)
#   BUILD_DIR=build-cuda scripts/gpu/build_device.sh   # reuse an existing FK_CUDA=ON build
#
# .device/ layout (with the tracked tree under the 64 MiB carry limit; checked at the end):
#   pack.tar.xz   bin/facekit, bin/fk_engine_tests (stripped; cudart static, cuDNN/cuBLAS are
#                 dlopen'ed on the GPU machine) and lib/, the non-CUDA shared libraries they need
#                 (oneDNN and OpenBLAS alone are ~70 MiB unpacked); run_gpu.sh unpacks it to /tmp
#   models/human/* (all but faceres-deep, 14 MiB), models/faceplugin/fr_feature.onnx, manifest
#   BUILD_INFO    commit, date, toolchain
# Takes ~3 minutes when the build is up to date (xz -9e), plus the build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-2}
OUT=.device
MAX_MIB=${MAX_MIB:-64}

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFK_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DFK_BUILD_TESTS=ON
fi
grep -q '^FK_CUDA:.*=ON' "$BUILD_DIR/CMakeCache.txt" || {
  echo "build_device: $BUILD_DIR is not configured with -DFK_CUDA=ON" >&2; exit 1; }
# fk_gallery_tests carries the GPU search tests (run_gpu.sh step 2b) when the gallery is built.
# BINS="facekit fk_pipeline_tests" picks other binaries (e.g. for the GPU JPEG tests, which live in
# fk_pipeline_tests); MODELS=0 leaves the models out (a call that needs none, to stay under 64 MiB).
if [ -z "${BINS:-}" ]; then
  BINS="facekit fk_engine_tests"
  # (grep -c reads all of its input: no SIGPIPE for cmake under pipefail)
  if cmake --build "$BUILD_DIR" --target help 2>/dev/null | grep -c 'fk_gallery_tests' > /dev/null; then
    BINS="$BINS fk_gallery_tests"
  fi
fi
cmake --build "$BUILD_DIR" -j"$JOBS" --target $BINS

rm -rf "$OUT"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$OUT/models/human" "$OUT/models/faceplugin"
for b in $BINS; do
  cp "$BUILD_DIR/$b" "$STAGE/bin/$b"
  strip --strip-unneeded "$STAGE/bin/$b"
done

# Shared libraries the GPU machine lacks (it has no Debian -dev packages): everything ldd
# resolves except glibc/libstdc++/libgcc (present there) and the CUDA stack (its own).
for b in "$STAGE"/bin/*; do
  ldd "$b" | awk '/=> \//{print $3}'
done | sort -u | grep -v -E '/(libcuda|libcudart|libcudnn|libcublas|libnvrtc|libc\.so|libm\.so|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl|librt)[.-]' |
  while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
strip --strip-unneeded "$STAGE"/lib/*.so* 2>/dev/null || true
if ldd "$STAGE/bin/facekit" | grep -q -E 'libcudnn|libcublas|libcudart'; then
  echo "build_device: facekit links a CUDA library directly (expected dlopen/static only)" >&2; exit 1
fi

# Models: every TF.js face model (selftest runs them all) and the ONNX recognizer for the peers.
[ -f models/manifest.json ] || { echo "build_device: models/ missing: run scripts/fetch_models.sh" >&2; exit 1; }
cp models/manifest.json "$OUT/models/"
if [ "${MODELS:-1}" = 1 ]; then
# A weights file byte-identical to one already copied (blazeface = blazeface-back) travels once:
# models/dups.txt lists "copy original" pairs that run_gpu.sh restores on the GPU machine.
: > "$OUT/models/dups.txt"
for f in models/human/*.json; do
  n=$(basename "$f" .json)
  [ "$n" = faceres-deep ] && continue  # 14 MiB, no recognizer tier uses it
  cp "$f" "$OUT/models/human/"
  dup=""
  for g in "$OUT"/models/human/*.bin; do
    [ -f "$g" ] && cmp -s "models/human/$n.bin" "$g" && { dup=$g; break; }
  done
  if [ -n "$dup" ]; then
    echo "human/$n.bin human/$(basename "$dup")" >> "$OUT/models/dups.txt"
  else
    cp "models/human/$n.bin" "$OUT/models/human/"
  fi
done
cp models/faceplugin/fr_feature.onnx "$OUT/models/faceplugin/"
# fr_detect: the default detector (selftest's model rows and its detector-box check).
cp models/faceplugin/fr_detect.onnx "$OUT/models/faceplugin/"
# face-api's ResNet recognizer: the accurate tier's second model (bench engine's faceapi-resnet).
if [ -f models/face-api/face_recognition_model.bin ]; then
  mkdir -p "$OUT/models/face-api"
  cp models/face-api/face_recognition_model* "$OUT/models/face-api/"
fi
fi
# Sample photos for the selftest's detector-box check (--photos; 1.5 MiB).
if ls data/samples/*.jpg >/dev/null 2>&1; then
  mkdir -p "$OUT/samples" && cp data/samples/*.jpg "$OUT/samples/"
fi

{
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "built $(date -u +%FT%TZ) on $(uname -n) from $BUILD_DIR"
  /usr/local/cuda/bin/nvcc --version | tail -1
  grep -E '^(CMAKE_CUDA_ARCHITECTURES|CMAKE_BUILD_TYPE)' "$BUILD_DIR/CMakeCache.txt"
} > "$OUT/BUILD_INFO"

tar -C "$STAGE" -cf - bin lib | xz "${XZ_LEVEL:--9e}" -T"$JOBS" > "$OUT/pack.tar.xz"

# The carry limit (64 MiB) counts the tracked tree too.
MIB=$(( ( $(du -sb "$OUT" | cut -f1) + $(git ls-files -z | xargs -0 cat | wc -c) ) / 1048576 + 1 ))
du -sh "$OUT"/* | sort -h
echo "build_device: $OUT plus the tracked tree is ${MIB} MiB"
if [ "$MIB" -gt "$MAX_MIB" ]; then
  echo "build_device: $OUT is over ${MAX_MIB} MiB: drop models (e.g. faceres-deep) or libraries" >&2
  exit 1
fi
echo "next: device tool run with carry [\".device\"], command: bash scripts/gpu/run_gpu.sh"
