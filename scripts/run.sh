#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and starts Hearth on the bundled default model
# (stories260K, a tiny story-telling model): the desktop app when there is a display, else an
# interactive `hearth-cli chat` in the terminal. Extra arguments go to the program started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
preset=$(scripts/build.sh | tail -n 1)
gui="build/$preset/app/gui/hearth"
if [[ -x "$gui" && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" || "${QT_QPA_PLATFORM:-}" == offscreen ) ]]; then
  exec "$gui" "$@"   # first run opens the bundled model; later runs the last model
fi
exec "build/$preset/app/cli/hearth-cli" chat -m resources/models/stories260K.gguf "$@"
