# Cross-compiling Hearth for 64-bit Windows on Debian with MinGW-w64 (issue 10: CPU path only).
#   cmake -S . -B build/mingw -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64-x86_64.cmake \
#         -DHEARTH_MINGW_PREFIX=$PWD/build/mingw-deps/prefix -DHEARTH_GUI=OFF -DHEARTH_CUDA=OFF
# scripts/cross-windows.sh builds HEARTH_MINGW_PREFIX (SQLite, zstd, PCRE2, header-only libraries)
# and runs this. Compilers: the "-posix" variants of g++-mingw-w64-x86-64 (std::thread and
# std::mutex need the posix thread model; the "-win32" default lacks them in GCC 12).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(HEARTH_MINGW_TRIPLE x86_64-w64-mingw32)

find_program(CMAKE_C_COMPILER NAMES ${HEARTH_MINGW_TRIPLE}-gcc-posix REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${HEARTH_MINGW_TRIPLE}-g++-posix REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${HEARTH_MINGW_TRIPLE}-windres)

# Libraries and headers come only from the MinGW sysroot and the cross-built prefix, never from
# the Linux /usr; programs (pkg-config, python3, makensis) come from the host.
set(HEARTH_MINGW_PREFIX "" CACHE PATH "Prefix of the cross-built dependencies (scripts/cross-windows.sh)")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES HEARTH_MINGW_PREFIX)
set(CMAKE_FIND_ROOT_PATH /usr/${HEARTH_MINGW_TRIPLE} ${HEARTH_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
if(HEARTH_MINGW_PREFIX)
  # pkg_check_modules (PCRE2, zstd, xxHash) reads only the prefix's .pc files.
  set(ENV{PKG_CONFIG_LIBDIR} "${HEARTH_MINGW_PREFIX}/lib/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
endif()

# Static runtime (libgcc, libstdc++, winpthread): hearth-cli.exe then needs only Windows' own DLLs,
# so the installer and wine need no PATH set-up for MinGW DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Tests and try_run go through wine (wine64 from Debian) when it is installed.
find_program(HEARTH_WINE NAMES wine64 wine)
if(HEARTH_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${HEARTH_WINE})
endif()
