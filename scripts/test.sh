#!/usr/bin/env bash
# The one command that installs what is needed, builds, and runs the whole test suite.
# Idempotent; fast when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FK_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/install_deps.sh"
"$ROOT/scripts/fetch_models.sh"
"$ROOT/scripts/build.sh"
cd "$BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 1200 "$@"
