#pragma once
// Group dot kernels over weights in the kInterleaved8 layout (weight_layout.h). One call takes
// ONE group of 8 weight rows (its start: the matrix start + 8g * row_bytes) and nx activation
// rows (nx in [1, kMaxDotRows], in the weight type's activation format as for the row kernels):
//   out[8 j + r] = row r of the group · x_j,   x_j at (const uint8_t*)x + j * x_stride.
// The integer math per block is the row kernels' (dot_portable.h), so results differ from
// theirs only by float summation order.
#include <cstddef>
#include <cstdint>

namespace hearth::kernels::cpu {

using GroupDotFn = void (*)(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);

namespace portable {
void dot_q4_0_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q6_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
}

// Call only when detect_simd_level() returns kAvx2 or more (AVX2 + FMA + F16C).
namespace avx2 {
void dot_q4_0_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q6_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
}

// Call only when detect_simd_level() returns kAvx2Vnni.
namespace avx2_vnni {
void dot_q4_0_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q6_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out);
}

}  // namespace hearth::kernels::cpu
