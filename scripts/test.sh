#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the main build (CUDA where nvcc exists; GPU tests report SKIP without a device),
#   2. the ASan + UBSan build of the cpu tests,
#   3. a short libFuzzer run of the GGUF loader.
# Set HEARTH_TEST_QUICK=1 to run only step 1. Set HEARTH_TEST_PRUNE=1 to delete each stage's build
# folder once its tests pass (CI does: the three builds take about 3.5 GB together).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)

preset=$(scripts/build.sh | tail -n 1)
ctest --preset "$preset" -j "$jobs"
prune() { if [[ "${HEARTH_TEST_PRUNE:-0}" == 1 ]]; then rm -rf "build/$1"; fi; }
prune "$preset"

if [[ "${HEARTH_TEST_QUICK:-0}" != 1 ]]; then
  scripts/build.sh asan >/dev/null
  ctest --preset asan -j "$jobs"
  prune asan
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$jobs" --target fuzz_gguf make_gguf_corpus
  ctest --test-dir build/fuzz -R '^fuzz_' -LE slow --output-on-failure
  prune fuzz
fi
