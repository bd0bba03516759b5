#!/usr/bin/env bash
# Windows test on Linux (issue 10, a `slow` job: README.md "Windows cross-build"): cross-builds
# the CPU path with MinGW-w64 (scripts/cross-windows.sh), runs hearth-cli.exe and the cpu tests that
# were built under wine, then builds the NSIS installer, installs it silently into a fresh wine
# prefix, runs the installed hearth-cli on the bundled model, uninstalls it and checks that
# nothing is left.
#
# Usage: scripts/windows-test.sh [--no-build]
#   HEARTH_MINGW_BUILD_DIR / HEARTH_MINGW_DEPS_DIR  as for scripts/cross-windows.sh
#   HEARTH_WINDOWS_TESTS   ctest -R regex of the cpu tests to run under wine, when the tests were
#                          built (with the cross-built Qt Test, see packaging/windows/README.md);
#                          default: all cpu tests not labelled slow, minus the excluded ones below
# Needs root or sudo only to install missing Debian packages (scripts/install-deps.sh --windows).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build_dir=${HEARTH_MINGW_BUILD_DIR:-$repo/build/mingw}
export HEARTH_MINGW_BUILD_DIR=$build_dir

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

scripts/install-deps.sh --windows
if [[ "${1:-}" != "--no-build" ]]; then
  scripts/cross-windows.sh build
fi
exe=$build_dir/app/cli/hearth-cli.exe
[[ -f $exe ]] || fail "no $exe (run scripts/cross-windows.sh)"

work=$(mktemp -d /tmp/hearth-windows-test.XXXXXX)
serve_pid=
cleanup() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null
  WINEPREFIX=$work/wine wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh 64-bit wine prefix: no state from earlier runs. No display is needed (console programs and
# a silent installer); Mono and Gecko are not installed (the prompts for them are switched off).
export WINEPREFIX=$work/wine WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wine=$(command -v wine || command -v wine64)
step "wine prefix ($($wine --version))"
$wine wineboot --init >/dev/null 2>&1 || true
wineserver -w
# Windows text mode writes \r\n; the comparisons below are on the text.
run_exe() { $wine "$@" 2>"$work/stderr.txt" | tr -d '\r'; }
winpath() { $wine winepath -w "$1" 2>/dev/null | tr -d '\r'; }

project_version=$(sed -n 's/^project(Hearth VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
prompt="Once upon a time"
# The llama2.c reference continuation of the bundled model (greedy), independent of Hearth.
reference=$(python3 -c 'import sys; t=open(sys.argv[1]).read(); print(t[len(sys.argv[2]):], end="")' \
  tests/data/stories260K_reference.txt "$prompt")

# --- 1. The cross-built hearth-cli.exe under wine --------------------------------------------
step "hearth-cli.exe --version"
got=$(run_exe "$exe" --version)
[[ "$got" == "Hearth $project_version" ]] || fail "--version printed '$got'"
# The version resource (Explorer's Properties > Details), from packaging/windows/version.rc.in.
rc_version=$(strings -el "$exe" | grep -A1 -x FileVersion | tail -n 1)
[[ "$rc_version" == "$project_version" ]] || fail "FileVersion resource '$rc_version' != $project_version"

check_generate() {  # check_generate LABEL TEXT: greedy text must start the reference continuation
  local label=$1 text=$2
  [[ -n "$text" ]] || { cat "$work/stderr.txt"; fail "$label: no text"; }
  [[ "$reference" == "$text"* ]] || fail "$label: '$text' is not the reference continuation"
  echo "  $label: ok ($(printf %s "$text" | wc -c) bytes, same as the llama2.c reference)"
}
step "hearth-cli.exe generate (greedy, against the llama2.c reference)"
text=$(run_exe "$exe" --log-level info generate -m resources/models/stories260K.gguf -p "$prompt" -n 64 --temp 0)
check_generate generate "$text"
grep -q "running on the CPU" "$work/stderr.txt" || fail "hearth-cli.exe did not say it runs on the CPU"

step "hearth-cli.exe generate --db (SQLite KV cache written, then restored)"
for run in 1 2; do
  text=$(run_exe "$exe" --log-level info generate -m resources/models/stories260K.gguf -p "$prompt" -n 32 --temp 0 \
    --db "$work/cache.db")
  check_generate "run $run" "$text"
done
[[ -s "$work/cache.db" ]] || fail "no cache database written"

step "hearth-cli.exe synth + quantize + info (GGUF writing on Windows)"
run_exe "$exe" synth --preset tiny-llama-3 --type f16 --out "$work/synth.gguf" >/dev/null \
  || { cat "$work/stderr.txt"; fail "synth"; }
# Positional paths as Windows paths: on Windows CLI11 reads "/tmp/..." as a /option.
run_exe "$exe" quantize "$(winpath "$work/synth.gguf")" "$(winpath "$work/synth-q8.gguf")" q8_0 >/dev/null \
  || { cat "$work/stderr.txt"; fail "quantize"; }
run_exe "$exe" info -m "$work/synth-q8.gguf" --json >"$work/info.json" || { cat "$work/stderr.txt"; fail "info"; }
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/info.json" || fail "info --json is not JSON"
echo "  ok"

step "hearth-cli.exe serve (Winsock, cpp-httplib) answered by curl on Linux"
$wine "$exe" serve -m resources/models/stories260K.gguf --port 0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
port=
for _ in $(seq 1 120); do
  port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.out" | tr -d '\r')
  [[ -n $port ]] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err"; fail "serve exited"; }
  sleep 0.5
done
[[ -n $port ]] || fail "serve did not print its port"
curl -fsS "http://127.0.0.1:$port/health" >/dev/null || fail "GET /health"
curl -fsS "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"stories260K\", \"prompt\": \"$prompt\", \"max_tokens\": 16, \"temperature\": 0}" >"$work/completion.json" || fail "POST /v1/completions"
text=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["text"], end="")' "$work/completion.json")
check_generate "/v1/completions" "$text"
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
serve_pid=

# --- 2. The cpu tests under wine, when they could be built ------------------------------------
if [[ -f $build_dir/CTestTestfile.cmake ]] && grep -q "add_test" -r "$build_dir/tests" 2>/dev/null; then
  step "cpu tests under wine (ctest, CMAKE_CROSSCOMPILING_EMULATOR=wine)"
  # Not run under wine, and why (packaging/windows/README.md lists them):
  #   POSIX-only, not built: test_storage_*, test_sqlite_kv_store, test_server_{http,openai,soak}
  #   their reference is a Linux program (python3 + NumPy/sentencepiece) that wine cannot start:
  #     test_utf8_stream, test_spm_tokenizer, test_bpe_tokenizer, test_tokenizer_import,
  #     test_synthetic_reference (the Node.js parity tests skip themselves)
  #   Linux-specific expectations: test_logging (XDG data directory; Windows uses %APPDATA%),
  #     test_cli_generate (expects \n; Windows text-mode stdout writes \r\n)
  excluded='test_storage_(migrations|disk_full|crash)|test_sqlite_kv_store|test_server_(http|openai|soak)'
  excluded+='|test_utf8_stream|test_spm_tokenizer|test_bpe_tokenizer|test_tokenizer_import|test_synthetic_reference'
  excluded+='|test_logging|test_cli_generate$'
  # Qt Test's text output does not reach CTest under wine: failures are re-run with -o FILE,txt.
  if ! ctest --test-dir "$build_dir" -L cpu -LE slow -E "$excluded" ${HEARTH_WINDOWS_TESTS:+-R "$HEARTH_WINDOWS_TESTS"} \
      -j 2 --timeout 600; then
    # CTest's list of the failed tests: "NUMBER:NAME" lines.
    for t in $(sed -n 's/^[0-9]*://p' "$build_dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null); do
      exe=$(find "$build_dir/tests" -name "$t.exe" | head -n 1)
      [[ -n $exe ]] || continue
      (cd "$(dirname "$exe")" && $wine "./$t.exe" -o "$work/$t.txt,txt" >/dev/null 2>&1 || true)
      echo "--- $t"; tr -d '\r' <"$work/$t.txt" | grep -E '^(FAIL!|   Actual|   Expected|   Loc|Totals)' | head -n 20
    done
    fail "cpu tests under wine"
  fi
else
  step "cpu tests under wine: not built (no MinGW Qt Test; packaging/windows/README.md)"
fi

# --- 3. The NSIS installer: silent install, run, silent uninstall -----------------------------
step "cpack -G NSIS"
rm -f "$build_dir"/hearth-*-win64.exe
(cd "$build_dir" && cpack -G NSIS >/dev/null)
installer=$build_dir/hearth-$project_version-win64.exe
[[ -f $installer ]] || fail "no $installer"
echo "  $installer ($(du -h "$installer" | cut -f1))"

target='C:\HearthTest'
target_unix=$WINEPREFIX/drive_c/HearthTest
step "silent install to $target"
$wine "$installer" /S "/D=$target"
wineserver -w
for f in bin/hearth-cli.exe share/hearth/models/stories260K.gguf Uninstall.exe; do
  [[ -f $target_unix/$f ]] || fail "the installer did not install $f"
done
key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\Hearth'
version=$($wine reg query "$key" /v DisplayVersion 2>/dev/null | tr -d '\r' | awk '/DisplayVersion/ {print $3}')
[[ "$version" == "$project_version" ]] || fail "Apps & features version '$version' != project() version $project_version"
echo "  installed: $(cd "$target_unix" && find . -type f | sort | tr '\n' ' ')"

step "installed hearth-cli.exe generate (with -m, and without: the bundled model beside the program)"
text=$(run_exe "$target\\bin\\hearth-cli.exe" generate -m "$target\\share\\hearth\\models\\stories260K.gguf" -p "$prompt" -n 32 --temp 0)
check_generate "installed, -m" "$text"
text=$(run_exe "$target\\bin\\hearth-cli.exe" generate -p "$prompt" -n 32 --temp 0)
check_generate "installed, default model" "$text"

step "silent uninstall"
$wine "$target\\Uninstall.exe" /S
wineserver -w
for _ in $(seq 1 20); do [[ -e $target_unix ]] || break; sleep 0.5; done  # the uninstaller runs from a copy
if [[ -e $target_unix ]]; then
  find "$target_unix" | head -n 20
  fail "$target is still there after uninstalling"
fi
$wine reg query "$key" >/dev/null 2>&1 && fail "the uninstall registry key is still there"
echo "PASS: Windows cross-build test (hearth-cli.exe under wine, NSIS install, run, uninstall)"
