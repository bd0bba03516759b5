#pragma once
// Block layouts of the quantized types, bit-compatible with GGUF files. A "half" is an IEEE
// binary16 stored as uint16_t. Element i of a block is reconstructed as described per type.
#include <cstdint>

namespace hearth::kernels {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK_K = 256;        // super-block of the K-quants
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales and mins of Q4_K / Q5_K

// x[i] = d * ((i < 16 ? qs[i] & 0xF : qs[i-16] >> 4) - 8)
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// x[i] = d * qs[i]
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 8 sub-blocks of 32 with 6-bit scale sc and min m each (packed in `scales`):
// x = d * sc * q - dmin * m, q in [0, 15]. Nibble layout: qs[32*j + l] holds element
// 64*j + l (low nibble) and 64*j + 32 + l (high nibble), j in [0, 4).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// As Q4_K with a fifth bit per element in qh: bit (2*j) of qh[l] for element 64*j + l,
// bit (2*j + 1) for element 64*j + 32 + l. q in [0, 31].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16 with int8 scales: x = d * scales[i/16] * (q - 32), q 6 bits: low 4 in
// ql, high 2 in qh (ggml layout, two halves of 128 elements).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Activations for dot products with K-quants: x = d * qs[i]; bsums[j] = sum of qs[16j..16j+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace hearth::kernels
