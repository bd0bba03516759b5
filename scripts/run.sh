#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and starts an interactive chat with the bundled
# default model (stories260K, a tiny story-telling model). Extra arguments go to `hearth-cli chat`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
preset=$(scripts/build.sh | tail -n 1)
exec "build/$preset/app/cli/hearth-cli" chat -m resources/models/stories260K.gguf "$@"
