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
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
echo "$preset"
