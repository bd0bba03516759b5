#pragma once
// Row dot kernels shared by the matmul: scalar reference versions (this file's .cpp) and the
// AVX2 versions (dot_avx2.h) have the same signature and the same integer math, so their
// results differ only by float summation order.
//
// A kernel computes the dot products of ONE weight row (n elements, stored in the weight type)
// with nx activation rows (nx in [1, kMaxDotRows]) already converted to the activation format
// the weight type wants (see activation_format(); Q8_0 rows use the q8_0_activation_row layout):
//   out[j] = w · x_j,   x_j at (const uint8_t*)x + j * x_stride.
// Loading a weight row once for several activation rows is what makes small batches cheap.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/common/dtype.h"

namespace hearth::kernels::cpu {

inline constexpr int kMaxDotRows = 4;

using RowDotFn = void (*)(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);

// The activation format of a weight type's dot product: Q8_0 for Q4_0/Q8_0, Q8_K for the
// K-quants, F32 (the caller's floats, no conversion) for F32/F16/BF16.
constexpr DType activation_format(DType weight) {
  switch (weight) {
    case DType::Q4_0:
    case DType::Q8_0: return DType::Q8_0;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return DType::Q8_K;
    default: return DType::F32;
  }
}

// Activation rows of the Q8_0 kernels (Q4_0 and Q8_0 weights): the n / 32 BlockQ8_0 of the
// row, then per block its scale as a float and 8 * (sum of its 32 quants) as an int32. Both are
// fixed for the whole call, so they are computed once (quantize_q8_0_activation_row) instead
// of in every weight row's loop: the float saves an fp16 conversion per block, the sum lets
// Q4_0 multiply its unsigned nibbles directly (sum (q - 8) x = sum q x - 8 sum x).
// The portable kernels read only the blocks.
struct Q8_0ActivationRow {
  size_t scales_offset;  // float[n / 32]
  size_t sums_offset;    // int32_t[n / 32]
  size_t bytes;          // row stride
};
constexpr Q8_0ActivationRow q8_0_activation_row(int64_t n) {
  const size_t blocks = static_cast<size_t>(n) / 32;
  const size_t scales = (blocks * 34 + 3) / 4 * 4;
  return {scales, scales + 4 * blocks, scales + 8 * blocks};
}

// Exact IEEE binary16 -> binary32 (every half is representable as a float), for the scalar path.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: value = mant * 2^-24; normalise it.
    int shift = 0;
    uint32_t m = mant;
    while ((m & 0x400u) == 0) {
      m <<= 1;
      ++shift;
    }
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | ((m & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float bfloat_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The 8 six-bit scales and 8 six-bit mins of a Q4_K / Q5_K super-block, packed in 12 bytes:
// bytes 0-3 low 6 bits: sc[0..3], bytes 4-7 low 6 bits: mn[0..3]; sc[4..7] / mn[4..7] take
// their low 4 bits from the nibbles of bytes 8-11 and their top 2 bits from the top bits of
// bytes 0-3 / 4-7. Done on 32-bit words: four sub-blocks at once.
inline void unpack_k_scales(const uint8_t* packed, uint8_t sc[8], uint8_t mn[8]) {
  uint32_t u0, u1, u2;
  std::memcpy(&u0, packed, 4);
  std::memcpy(&u1, packed + 4, 4);
  std::memcpy(&u2, packed + 8, 4);
  const uint32_t sc_lo = u0 & 0x3F3F3F3Fu;
  const uint32_t mn_lo = u1 & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (u2 & 0x0F0F0F0Fu) | (((u0 >> 6) & 0x03030303u) << 4);
  const uint32_t mn_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | (((u1 >> 6) & 0x03030303u) << 4);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(mn, &mn_lo, 4);
  std::memcpy(mn + 4, &mn_hi, 4);
}

namespace portable {

void dot_f32(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_f16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_bf16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q8_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q4_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q5_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);
void dot_q6_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out);

}  // namespace portable
}  // namespace hearth::kernels::cpu
