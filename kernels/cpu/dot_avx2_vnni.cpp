// Q4_0 and Q8_0 row dot kernels with AVX512-VNNI's 256-bit vpdpbusd (see dot_avx2_impl.h).
// Compiled with -mavx512vnni -mavx512vl; called only when detect_simd_level() returns kAvx2Vnni.
#define HEARTH_AVX2_NAMESPACE avx2_vnni
#define HEARTH_AVX2_VNNI 1
#include "kernels/cpu/dot_avx2_impl.h"
#include "kernels/cpu/dot_interleaved_avx2_impl.h"
