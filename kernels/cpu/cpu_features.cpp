// Run-time choice of the kernel variant. __builtin_cpu_supports also checks that the OS saves
// the AVX registers (XGETBV), so kAvx2 is only returned where AVX2 code can actually run.
#include "kernels/cpu/dot_avx2.h"
#include "kernels/cpu/matmul.h"

namespace hearth::kernels::cpu {

SimdLevel detect_simd_level() {
#if HEARTH_HAVE_AVX2_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) return SimdLevel::kAvx2Vnni;
    return SimdLevel::kAvx2;
  }
#endif
  return SimdLevel::kPortable;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kPortable: return "portable";
    case SimdLevel::kAvx2: return "AVX2";
    case SimdLevel::kAvx2Vnni: return "AVX2+VNNI";
  }
  return "unknown";
}

}  // namespace hearth::kernels::cpu
