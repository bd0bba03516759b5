#pragma once
// Device-side decoding of 8 consecutive elements of a GGUF-quantized row (layouts in
// kernels/cpu/quant_blocks.h), for the dequantize-to-FP16 pass of quant_gemm: one thread writes 8
// halves (one 16-byte store), so consecutive threads write consecutive 16 bytes and a warp covers
// 256 elements (one K-quant block, eight Q4_0/Q8_0 blocks). [pre4]
//
// decode8<T>(row, e, w): w[0..8) = elements [e, e + 8) of the row, e a multiple of 8.
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cuda/quant_blocks.cuh"

namespace hearth::kernels::cuda::detail {

// 8 bytes at a 2-byte aligned address (Q4_0 / Q8_0 / Q6_K blocks are only 2-aligned).
__device__ __forceinline__ uint2 load8_aligned2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return make_uint2(uint32_t{h[0]} | (uint32_t{h[1]} << 16), uint32_t{h[2]} | (uint32_t{h[3]} << 16));
}
__device__ __forceinline__ uint32_t byte_of(const uint2& v, int i) { return ((i < 4 ? v.x : v.y) >> (8 * (i & 3))) & 0xFF; }

template <DType T> __device__ void decode8(const uint8_t* row, int64_t e, float* w);

// Q4_0 block of 32: elements 0..15 are the low nibbles of qs[0..16), 16..31 the high nibbles.
template <> __device__ __forceinline__ void decode8<DType::Q4_0>(const uint8_t* row, int64_t e, float* w) {
  const uint8_t* b = row + (e >> 5) * 18;
  const int l0 = static_cast<int>(e & 31);
  const float d = half_bits_to_float(load_u16(b));
  const uint2 q = load8_aligned2(b + 2 + (l0 & 15));
  const int shift = l0 >= 16 ? 4 : 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) w[i] = d * static_cast<float>(static_cast<int>((byte_of(q, i) >> shift) & 0xF) - 8);
}

template <> __device__ __forceinline__ void decode8<DType::Q8_0>(const uint8_t* row, int64_t e, float* w) {
  const uint8_t* b = row + (e >> 5) * 34;
  const float d = half_bits_to_float(load_u16(b));
  const uint2 q = load8_aligned2(b + 2 + (e & 31));
#pragma unroll
  for (int i = 0; i < 8; ++i) w[i] = d * static_cast<float>(static_cast<int8_t>(byte_of(q, i)));
}

// Q4_K / Q5_K: element j of a 256-block is sub-block j / 32 (scale/min pair j / 32); sub-blocks
// 2p and 2p + 1 share the 32 bytes qs[32p ..) (low / high nibbles); Q5_K's fifth bit of element
// l of sub-block s is bit s of qh[l].
template <bool kFifthBit>
__device__ __forceinline__ void decode8_k_asym(const uint8_t* b, int j, float* w) {
  const float d = half_bits_to_float(load_u16(b)), dmin = half_bits_to_float(load_u16(b + 2));
  const int sub = j >> 5, l0 = j & 31, p = sub >> 1, shift = 4 * (sub & 1);
  int sc, mn;
  unpack_scale_min(b + 4, sub, sc, mn);
  const float step = d * static_cast<float>(sc), off = dmin * static_cast<float>(mn);
  const uint2 q = *reinterpret_cast<const uint2*>(b + (kFifthBit ? 48 : 16) + 32 * p + l0);
  uint2 h = make_uint2(0, 0);
  if (kFifthBit) h = *reinterpret_cast<const uint2*>(b + 16 + l0);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    int v = static_cast<int>((byte_of(q, i) >> shift) & 0xF);
    if (kFifthBit) v |= static_cast<int>((byte_of(h, i) >> sub) & 1) << 4;
    w[i] = step * static_cast<float>(v) - off;
  }
}
template <> __device__ __forceinline__ void decode8<DType::Q4_K>(const uint8_t* row, int64_t e, float* w) {
  decode8_k_asym<false>(row + (e >> 8) * 144, static_cast<int>(e & 255), w);
}
template <> __device__ __forceinline__ void decode8<DType::Q5_K>(const uint8_t* row, int64_t e, float* w) {
  decode8_k_asym<true>(row + (e >> 8) * 176, static_cast<int>(e & 255), w);
}

// Q6_K: element j = 128h + 32k + l of a block: low 4 bits in ql[64h + 32(k & 1) + l] (nibble
// k >> 1), high 2 bits in qh[32h + l] (bits 2k), scale scales[8h + 2k + l / 16]; value d * scale * (q - 32).
template <> __device__ __forceinline__ void decode8<DType::Q6_K>(const uint8_t* row, int64_t e, float* w) {
  const uint8_t* b = row + (e >> 8) * 210;
  const int j = static_cast<int>(e & 255), h = j >> 7, k = (j >> 5) & 3, l0 = j & 31;
  const uint2 ql = load8_aligned2(b + 64 * h + 32 * (k & 1) + l0);
  const uint2 qh = load8_aligned2(b + 128 + 32 * h + l0);
  const float d = half_bits_to_float(load_u16(b + 208));
  const float step = d * static_cast<float>(reinterpret_cast<const int8_t*>(b + 192)[8 * h + 2 * k + (l0 >> 4)]);
  const int low_shift = 4 * (k >> 1), high_shift = 2 * k;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int q = static_cast<int>(((byte_of(ql, i) >> low_shift) & 0xF) | (((byte_of(qh, i) >> high_shift) & 3) << 4));
    w[i] = step * static_cast<float>(q - 32);
  }
}

// 8 floats -> 8 halves in one 16-byte word.
__device__ __forceinline__ uint4 pack8_half(const float* v) {
  uint4 out;
  uint32_t* o = reinterpret_cast<uint32_t*>(&out);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const __half2 h2 = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    o[i] = *reinterpret_cast<const uint32_t*>(&h2);
  }
  return out;
}

}  // namespace hearth::kernels::cuda::detail
