#!/usr/bin/env bash
# Configure and build facekit (Release) into build/. Extra arguments go to CMake.
# FK_BUILD_DIR overrides the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FK_BUILD_DIR:-$ROOT/build}"
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif [[ $# -gt 0 ]]; then
  cmake "$BUILD" "$@"
fi
cmake --build "$BUILD" -j"$(nproc)"
