#pragma once
// Quantization of activations (the float rows multiplied by quantized weights) into the formats
// the int8 dot kernels read. Runs once per matmul call on the hot path, so it has an AVX2
// version; both versions produce exactly the bytes quantize_row(Q8_0 / Q8_K) produces:
//   Q8_0 (32 values): d = max|x| / 127, q = round_half_away(x * (1 / d)), d stored as fp16.
//   Q8_K (256 values): with v the value of largest magnitude (first one on ties),
//     s = -127 / v, q = min(127, round_half_even(s * x)), d = 1 / s (float), bsums = sums of
//     16 q's. An all-zero block gives d = 0 and q = 0.
// q is always in [-127, 127] (NaN activations give -127): the Q8_0 dot kernels rely on -128
// never occurring (they negate activations).
#include <cstdint>

#include "kernels/cpu/matmul.h"

namespace hearth::kernels::cpu {

// n floats -> n / 32 BlockQ8_0 at dst. n must be a multiple of 32.
void quantize_activations_q8_0(const float* x, void* dst, int64_t n, SimdLevel level);
// n floats -> one activation row of the Q8_0 kernels (layout: q8_0_activation_row(n) in
// dot_portable.h): the blocks quantize_activations_q8_0 writes, then their float scales and
// 8 * quant sums. n must be a multiple of 32.
void quantize_q8_0_activation_row(const float* x, void* row, int64_t n, SimdLevel level);
// n floats -> n / 256 BlockQ8_K at dst. n must be a multiple of 256.
void quantize_activations_q8_K(const float* x, void* dst, int64_t n, SimdLevel level);

namespace portable {
void quantize_activations_q8_0(const float* x, void* dst, int64_t n);
void quantize_activations_q8_K(const float* x, void* dst, int64_t n);
}  // namespace portable

namespace avx2 {
void quantize_activations_q8_0(const float* x, void* dst, int64_t n);
void quantize_activations_q8_K(const float* x, void* dst, int64_t n);
}  // namespace avx2

}  // namespace hearth::kernels::cpu
