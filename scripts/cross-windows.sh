#!/usr/bin/env bash
# MinGW-w64 cross-build of Hearth's CPU path for 64-bit Windows (issue 10): the engine, storage,
# kernels/cpu, hearth-cli and the cpu tests, on Debian, with cmake/toolchains/mingw-w64-x86_64.cmake.
#
# Usage: scripts/cross-windows.sh [deps|configure|build|all]   (default: all)
#   deps       build the dependencies Debian has no MinGW build of into $deps_dir/prefix (cached:
#              each library is rebuilt only when its stamp file is missing)
#   configure  deps + configure $build_dir
#   build/all  configure + build everything: hearth-cli, the kernel bench and the tests (with Qt Test)
#   HEARTH_MINGW_DEPS_DIR   where the dependencies are built (default build/mingw-deps)
#   HEARTH_MINGW_BUILD_DIR  the cross build tree (default build/mingw)
#   HEARTH_MINGW_JOBS       parallel jobs (default: nproc)
#   HEARTH_MINGW_TARGETS    what to build (default: all)
#   HEARTH_MINGW_QT_TEST=0  skip cross-building Qt Test (and so the tests): hearth-cli only
#
# Where each dependency comes from (Debian 12 has MinGW builds only of the compiler and zlib):
#   SQLite 3.40, zstd 1.5.4, PCRE2 10.42, cpp-httplib 0.11.4   `apt-get source` (Debian's own source
#                 packages, needs a deb-src line: this script adds one for the configured mirror)
#                 built statically with the MinGW compiler;
#   spdlog, fmt, nlohmann-json, CLI11, xxHash                   header-only, from the Linux -dev
#                 packages' headers (copied into the prefix so no other /usr/include leaks in);
#   ICU           not built (heavy): HEARTH_HAVE_ICU is off on Windows (no NFC normalization for the
#                 Qwen tokenizers; PCRE2 alone classifies characters);
#   Qt Test       (the tests only) `apt-get source qt6-base` 6.4.2, cross-built static with only
#                 QtCore and QtTest, using the host's moc (qt6-base-dev, the same version): about
#                 300 compilations, ~20 minutes on 2 busy cores, once.
# Third-party code stays under build/ (ignored by git); nothing is vendored into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
what=${1:-all}
deps_dir=${HEARTH_MINGW_DEPS_DIR:-$repo/build/mingw-deps}
build_dir=${HEARTH_MINGW_BUILD_DIR:-$repo/build/mingw}
jobs=${HEARTH_MINGW_JOBS:-$(nproc 2>/dev/null || echo 2)}
prefix=$deps_dir/prefix
src=$deps_dir/src
toolchain=$repo/cmake/toolchains/mingw-w64-x86_64.cmake
triple=x86_64-w64-mingw32
with_qt=${HEARTH_MINGW_QT_TEST:-1}
host_qt_cmake_dir=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/cmake
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
step() { echo "== $*"; }

# --- Host packages ---------------------------------------------------------------------------
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  echo "Installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# apt-get source needs deb-src entries: copies of the machine's deb entries (same mirrors and
# suites; Debian's debian.sources, Ubuntu's ubuntu.sources or one-line sources.list).
ensure_deb_src() {
  if apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then return 0; fi
  local sudo_cmd=() f
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  step "adding deb-src entries (/etc/apt/sources.list.d/hearth-deb-src.*)"
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    sed 's/^Types:.*/Types: deb-src/' "$f"
    echo
  done | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/hearth-deb-src.sources >/dev/null
  if [[ -f /etc/apt/sources.list ]]; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/hearth-deb-src.list >/dev/null
  fi
  "${sudo_cmd[@]}" apt-get update -qq
}

# Unpacks the orig tarball of Debian source package $1 into $src/$1 (once) and prints that directory.
unpack_source() {
  local pkg=$1
  if [[ ! -d $src/$pkg ]]; then
    mkdir -p "$src/download"
    (cd "$src/download" && ls "${pkg}"_*.orig.tar.* >/dev/null 2>&1 || apt-get source --download-only -qq "$pkg" >/dev/null 2>&1) \
      || { echo "apt-get source $pkg failed" >&2; exit 1; }
    local tarball
    tarball=$(ls "$src/download/${pkg}"_*.orig.tar.* | grep -v '\.asc$' | grep -v -- '-www' | head -n 1)
    mkdir -p "$src/$pkg.tmp"
    tar -xf "$tarball" -C "$src/$pkg.tmp" --strip-components=1
    mv "$src/$pkg.tmp" "$src/$pkg"
  fi
  echo "$src/$pkg"
}

cmake_dep() {  # cmake_dep NAME SOURCE_DIR [cmake args...]: a static MinGW build installed into $prefix
  local name=$1 dir=$2
  shift 2
  cmake -S "$dir" -B "$deps_dir/build-$name" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF "$@" >/dev/null
  cmake --build "$deps_dir/build-$name" -j "$jobs" >/dev/null
  cmake --install "$deps_dir/build-$name" >/dev/null
}

build_zstd() {
  local dir
  dir=$(unpack_source libzstd)
  cmake_dep zstd "$dir/build/cmake" -DZSTD_BUILD_SHARED=OFF -DZSTD_BUILD_STATIC=ON -DZSTD_BUILD_PROGRAMS=OFF \
    -DZSTD_BUILD_TESTS=OFF -DZSTD_MULTITHREAD_SUPPORT=OFF
}

build_pcre2() {
  local dir
  dir=$(unpack_source pcre2)
  cmake_dep pcre2 "$dir" -DPCRE2_BUILD_PCRE2_8=ON -DPCRE2_BUILD_PCRE2_16=OFF -DPCRE2_BUILD_PCRE2_32=OFF \
    -DPCRE2_SUPPORT_JIT=ON -DPCRE2_SUPPORT_UNICODE=ON -DPCRE2_BUILD_PCRE2GREP=OFF -DPCRE2_BUILD_TESTS=OFF
  # A static PCRE2 on Windows needs PCRE2_STATIC (else pcre2.h declares dllimport); 10.42's .pc lacks it.
  sed -i '/^Cflags:/{/PCRE2_STATIC/!s/$/ -DPCRE2_STATIC/}' "$prefix/lib/pkgconfig/libpcre2-8.pc"
}

# SQLite: the amalgamation (sqlite3.c) is generated from the source tree by its own configure and
# make on the host (lemon, tclsh), then compiled once with the MinGW compiler. FTS5 is needed by
# storage/ (conversation search); the other switches follow Debian's libsqlite3.
build_sqlite() {
  local dir
  dir=$(unpack_source sqlite3)
  need_packages tcl
  mkdir -p "$deps_dir/build-sqlite-host"
  (cd "$deps_dir/build-sqlite-host" && { [[ -f Makefile ]] || "$dir/configure" >/dev/null; } && make -s sqlite3.c >/dev/null)
  local out=$deps_dir/build-sqlite
  mkdir -p "$out" "$prefix/include" "$prefix/lib/pkgconfig"
  ${triple}-gcc-posix -O2 -c "$deps_dir/build-sqlite-host/sqlite3.c" -o "$out/sqlite3.o" \
    -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS5 \
    -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_ENABLE_DBSTAT_VTAB \
    -DSQLITE_ENABLE_RTREE -DSQLITE_SECURE_DELETE -DSQLITE_MAX_VARIABLE_NUMBER=250000
  rm -f "$prefix/lib/libsqlite3.a"
  ${triple}-ar rcs "$prefix/lib/libsqlite3.a" "$out/sqlite3.o"
  cp "$deps_dir/build-sqlite-host/sqlite3.h" "$dir/src/sqlite3ext.h" "$prefix/include/" 2>/dev/null \
    || cp "$deps_dir/build-sqlite-host/sqlite3.h" "$prefix/include/"
}

# cpp-httplib: Debian's libcpp-httplib-dev is the split form (a declaring header plus a Linux shared
# library built with OpenSSL, zlib and Brotli). Windows gets the upstream header-only httplib.h
# without TLS or compression; core/server skips those switches on WIN32. The tiny
# libcpp-httplib.a (one translation unit including the header) satisfies core/server's
# find_library and keeps every other object free of httplib's implementation.
build_httplib() {
  local dir
  dir=$(unpack_source cpp-httplib)
  mkdir -p "$prefix/include" "$prefix/lib" "$deps_dir/build-httplib"
  cp "$dir/httplib.h" "$prefix/include/httplib.h"
  echo '// Empty: the header-only httplib is compiled where it is included.' >"$deps_dir/build-httplib/httplib_anchor.cc"
  ${triple}-g++-posix -std=c++20 -O2 -c "$deps_dir/build-httplib/httplib_anchor.cc" -o "$deps_dir/build-httplib/httplib_anchor.o"
  rm -f "$prefix/lib/libcpp-httplib.a"
  ${triple}-ar rcs "$prefix/lib/libcpp-httplib.a" "$deps_dir/build-httplib/httplib_anchor.o"
}

# Header-only libraries: headers copied from the Linux packages, with CMake package files that
# switch them to header-only mode (Debian's own config files point at its compiled Linux libraries).
build_headers() {
  need_packages libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libxxhash-dev
  mkdir -p "$prefix/include" "$prefix/lib/cmake/fmt" "$prefix/lib/cmake/spdlog" "$prefix/lib/cmake/nlohmann_json" \
    "$prefix/lib/pkgconfig"
  local d
  for d in spdlog fmt nlohmann CLI; do
    rm -rf "${prefix:?}/include/$d"
    cp -r "/usr/include/$d" "$prefix/include/$d"
  done
  cp /usr/include/xxhash.h "$prefix/include/xxhash.h"
  local fmt_version spdlog_version json_version
  fmt_version=$(dpkg-query -W -f='${Version}' libfmt-dev | sed 's/[+~-].*//')
  spdlog_version=$(dpkg-query -W -f='${Version}' libspdlog-dev | sed 's/^[0-9]*://;s/[+~-].*//')
  json_version=$(dpkg-query -W -f='${Version}' nlohmann-json3-dev | sed 's/[+~-].*//')
  cat >"$prefix/lib/cmake/fmt/fmt-config.cmake" <<EOF
# Header-only fmt for the MinGW build (scripts/cross-windows.sh).
if(NOT TARGET fmt::fmt)
  add_library(fmt::fmt INTERFACE IMPORTED)
  set_target_properties(fmt::fmt PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_LIST_DIR}/../../../include"
                                            INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)
endif()
EOF
  echo "set(PACKAGE_VERSION $fmt_version)
set(PACKAGE_VERSION_COMPATIBLE TRUE)" >"$prefix/lib/cmake/fmt/fmt-config-version.cmake"
  cat >"$prefix/lib/cmake/spdlog/spdlogConfig.cmake" <<EOF
# Header-only spdlog on header-only fmt for the MinGW build (scripts/cross-windows.sh).
include(CMakeFindDependencyMacro)
find_dependency(fmt)
if(NOT TARGET spdlog::spdlog)
  add_library(spdlog::spdlog INTERFACE IMPORTED)
  set_target_properties(spdlog::spdlog PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_LIST_DIR}/../../../include"
                        INTERFACE_COMPILE_DEFINITIONS "SPDLOG_HEADER_ONLY;SPDLOG_FMT_EXTERNAL"
                        INTERFACE_LINK_LIBRARIES fmt::fmt)
endif()
EOF
  echo "set(PACKAGE_VERSION $spdlog_version)
set(PACKAGE_VERSION_COMPATIBLE TRUE)" >"$prefix/lib/cmake/spdlog/spdlogConfigVersion.cmake"
  cat >"$prefix/lib/cmake/nlohmann_json/nlohmann_jsonConfig.cmake" <<EOF
# Header-only nlohmann-json for the MinGW build (scripts/cross-windows.sh).
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
                        INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_LIST_DIR}/../../../include")
endif()
EOF
  echo "set(PACKAGE_VERSION $json_version)
if(PACKAGE_FIND_VERSION VERSION_LESS_EQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()" >"$prefix/lib/cmake/nlohmann_json/nlohmann_jsonConfigVersion.cmake"
  local xxh_version
  xxh_version=$(dpkg-query -W -f='${Version}' libxxhash-dev | sed 's/[+~-].*//')
  cat >"$prefix/lib/pkgconfig/libxxhash.pc" <<EOF
# Header-only xxHash (XXH_INLINE_ALL) for the MinGW build (scripts/cross-windows.sh).
prefix=$prefix
includedir=\${prefix}/include
Name: xxHash
Description: header-only xxHash
Version: $xxh_version
Cflags: -I\${includedir} -DXXH_INLINE_ALL
Libs:
EOF
}

# <dlfcn.h> for core/backend/cuda/nvml_device.cpp, which loads NVML with dlopen and is compiled in
# every build (a CPU-only build just reports "libnvidia-ml.so.1 not found"). A stop-gap until that
# file loads "nvml.dll" through a portable helper on Windows; then delete this and stamp-compat.
build_compat() {
  mkdir -p "$prefix/include"
  cat >"$prefix/include/dlfcn.h" <<'HEADER'
#pragma once
/* dlopen/dlsym/dlclose over LoadLibraryA/GetProcAddress/FreeLibrary (scripts/cross-windows.sh). */
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#define RTLD_LAZY 1
#define RTLD_NOW 2
#define RTLD_LOCAL 0
#define RTLD_GLOBAL 0x100
static inline void* dlopen(const char* file, int mode) { (void)mode; return (void*)LoadLibraryA(file); }
static inline void* dlsym(void* handle, const char* name) { return (void*)GetProcAddress((HMODULE)handle, name); }
static inline int dlclose(void* handle) { return FreeLibrary((HMODULE)handle) ? 0 : -1; }
static inline const char* dlerror(void) { return "LoadLibraryA or GetProcAddress failed"; }
HEADER
}

# Qt Test for the test programs: Debian's qtbase 6.4.2 source, cross-built static with only QtCore
# and QtTest (no GUI, network, SQL, XML, D-Bus, ICU); moc and the other tools are the host's Qt
# 6.4.2 (qt6-base-dev, QT_HOST_PATH): the same version, as Qt requires. About 300 compilations.
build_qt() {
  local dir
  dir=$(unpack_source qt6-base)
  need_packages qt6-base-dev qt6-base-dev-tools
  cmake_dep qt "$dir" -DCMAKE_INSTALL_PREFIX="$prefix/qt6" \
    -DQT_HOST_PATH=/usr -DQT_HOST_PATH_CMAKE_DIR="$host_qt_cmake_dir" \
    -DFEATURE_gui=OFF -DFEATURE_widgets=OFF -DFEATURE_network=OFF -DFEATURE_sql=OFF -DFEATURE_xml=OFF \
    -DFEATURE_dbus=OFF -DFEATURE_concurrent=OFF -DFEATURE_printsupport=OFF -DFEATURE_opengl=OFF \
    -DFEATURE_testlib=ON -DFEATURE_icu=OFF -DFEATURE_system_pcre2=OFF -DFEATURE_system_zlib=OFF \
    -DQT_BUILD_EXAMPLES=OFF -DQT_BUILD_TESTS=OFF "${launcher[@]}"
}

# Runs build_<name> unless its stamp exists (delete $deps_dir/stamp-<name> to rebuild one).
dep() {
  local name=$1
  [[ -f $deps_dir/stamp-$name ]] && return 0
  step "building $name for MinGW into $prefix"
  "build_$name"
  touch "$deps_dir/stamp-$name"
}

deps() {
  need_packages g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 cmake ninja-build \
    pkg-config dpkg-dev xz-utils
  mkdir -p "$deps_dir" "$src"
  if ! ls "$deps_dir"/stamp-zstd "$deps_dir"/stamp-pcre2 "$deps_dir"/stamp-sqlite "$deps_dir"/stamp-httplib >/dev/null 2>&1; then
    ensure_deb_src
  fi
  dep headers
  dep compat
  dep zstd
  dep pcre2
  dep sqlite
  dep httplib
  if [[ $with_qt == 1 ]]; then dep qt; fi
}

configure() {
  step "configure $build_dir"
  local tests=(-DHEARTH_TESTS=OFF)
  if [[ $with_qt == 1 && -d $prefix/qt6/lib/cmake/Qt6Test ]]; then
    # The tests' moc runs on the host (QT_HOST_PATH); CTest runs them through wine (the toolchain's
    # CMAKE_CROSSCOMPILING_EMULATOR).
    tests=(-DHEARTH_TESTS=ON -DCMAKE_PREFIX_PATH="$prefix/qt6" -DQT_HOST_PATH=/usr -DQT_HOST_PATH_CMAKE_DIR="$host_qt_cmake_dir")
  fi
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DHEARTH_MINGW_PREFIX="$prefix" \
    -DHEARTH_GUI=OFF -DHEARTH_CUDA=OFF "${tests[@]}" "${launcher[@]}" >/dev/null
}

# Tests that use POSIX directly (fork/poll crash writers, a tmpfs mount for disk-full, the server
# tests' socket helpers) or pass path::c_str() as char*: not built for Windows (see
# packaging/windows/README.md). scripts/windows-test.sh excludes the same names.
posix_only_tests="test_storage_migrations test_storage_disk_full test_sqlite_kv_store test_storage_crash
  test_storage_crash_slow test_server_http test_server_openai test_server_soak"

build() {
  local targets=(${HEARTH_MINGW_TARGETS:-})
  if ((${#targets[@]} == 0)); then
    # hearth-cli, the kernel bench and every test that builds on Windows (test name = target name).
    targets=(hearth-cli hearth-kernel-bench)
    local t known
    known=" $(ninja -C "$build_dir" -t targets all 2>/dev/null | sed -n 's/^\([A-Za-z0-9_]*\): phony$/\1/p' | tr '\n' ' ') "
    for t in $(ctest --test-dir "$build_dir" -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: //p' | sort -u); do
      # Several tests may run one program with other arguments: only names that are targets.
      [[ $known == *" $t "* && " $(echo $posix_only_tests) " != *" $t "* ]] && targets+=("$t")
    done
  fi
  step "build ${#targets[@]} targets in $build_dir"
  cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"
}

case $what in
  deps) deps ;;
  configure) deps; configure ;;
  build|all) deps; configure; build ;;
  *) echo "usage: $0 [deps|configure|build|all]" >&2; exit 2 ;;
esac
