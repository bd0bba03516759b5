# Warnings for our own targets and the optional sanitizer build.
add_library(hearth_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(hearth_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
endif()

if(HEARTH_SANITIZE)
  # -g1: line tables only, enough for the sanitizers' symbolized stack traces; full -g made the
  # ASan build folder about 2.8 GB, which once filled the CI machine's disk.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
                      $<$<CONFIG:RelWithDebInfo>:-g1>)
  add_link_options(-fsanitize=address,undefined)
endif()

# SIMD kernels are compiled per file with their own -m flags and chosen at run time, so the
# binaries run on any x86-64 CPU. hearth_avx2_source(TARGET file...) marks files of TARGET as
# AVX2/FMA/F16C. Source properties are per directory, so they are set in the target's directory
# (the kernels library is created in kernels/ and gets its sources from kernels/cpu/).
# hearth_avx2_source(TARGET file... [EXTRA flag...]) adds further -m flags (e.g. AVX512-VNNI).
function(hearth_avx2_source target)
  cmake_parse_arguments(A "" "" "EXTRA" ${ARGN})
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    set_source_files_properties(${A_UNPARSED_ARGUMENTS} TARGET_DIRECTORY ${target}
      PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi2;${A_EXTRA}")
  endif()
endfunction()
