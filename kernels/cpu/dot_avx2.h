#pragma once
// AVX2/FMA/F16C row dot kernels (dot_avx2.cpp is compiled with those flags). Same signature,
// contract and integer math as the portable kernels in dot_portable.h; call them only when
// detect_simd_level() returns SimdLevel::kAvx2 or kAvx2Vnni.
#include "kernels/cpu/dot_portable.h"

// The AVX2 kernels exist only on x86 builds; elsewhere everything runs the portable path.
#if defined(__x86_64__) || defined(__i386__)
#define HEARTH_HAVE_AVX2_KERNELS 1
#else
#define HEARTH_HAVE_AVX2_KERNELS 0
#endif

namespace hearth::kernels::cpu::avx2 {

void dot_f32(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_f16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_bf16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q8_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q5_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q6_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);

}  // namespace hearth::kernels::cpu::avx2

// The same Q4_0 / Q8_0 kernels with the byte dot products on AVX512-VNNI (256-bit vpdpbusd);
// call them only when detect_simd_level() returns SimdLevel::kAvx2Vnni.
namespace hearth::kernels::cpu::avx2_vnni {

void dot_q4_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q8_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);

}  // namespace hearth::kernels::cpu::avx2_vnni
