#!/usr/bin/env bash
# Configures and builds one CMake preset (default: cuda where nvcc exists, else cpu).
# Usage: scripts/build.sh [PRESET]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-}
if [[ -z "$preset" ]]; then
  if [[ -x /usr/local/cuda/bin/nvcc ]] || command -v nvcc >/dev/null 2>&1; then preset=cuda; else preset=cpu; fi
fi
jobs=$(nproc 2>/dev/null || echo 2)
# Build output goes to stderr; stdout carries only the preset name for the calling script.
cmake --preset "$preset" >&2
cmake --build --preset "$preset" -j "$jobs" >&2
echo "$preset"
