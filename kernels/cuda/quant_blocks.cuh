#pragma once
// Device-side decoding of GGUF weight blocks (layouts in kernels/cpu/quant_blocks.h), shared by
// the matvec and the dequantize-for-GEMM kernels. Every decoder produces a run of consecutive
// elements ("a piece") of one row, so callers pair it with x[piece_start .. piece_start + E).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/dtype.h"

namespace hearth::kernels::cuda::detail {

__device__ __forceinline__ float half_bits_to_float(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
__device__ __forceinline__ float bf16_bits_to_float(uint16_t bits) { return __uint_as_float(uint32_t{bits} << 16); }

// Reads 2-byte aligned bytes as uint16 words (Q4_0 / Q8_0 / Q6_K blocks are only 2-aligned).
__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block, packed in 12 bytes.
__device__ __forceinline__ void unpack_scale_min(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Elements per piece for each type: a whole block for Q4_0 / Q8_0, two sub-blocks (64) for
// Q4_K / Q5_K (one 32-byte run of nibbles), a quarter of a half (32) for Q6_K, 8 for floats.
template <DType T> struct PieceTraits;
template <> struct PieceTraits<DType::Q4_0> { static constexpr int kElems = 32, kBlockElems = 32, kBlockBytes = 18; };
template <> struct PieceTraits<DType::Q8_0> { static constexpr int kElems = 32, kBlockElems = 32, kBlockBytes = 34; };
template <> struct PieceTraits<DType::Q4_K> { static constexpr int kElems = 64, kBlockElems = 256, kBlockBytes = 144; };
template <> struct PieceTraits<DType::Q5_K> { static constexpr int kElems = 64, kBlockElems = 256, kBlockBytes = 176; };
template <> struct PieceTraits<DType::Q6_K> { static constexpr int kElems = 32, kBlockElems = 256, kBlockBytes = 210; };
template <> struct PieceTraits<DType::F32> { static constexpr int kElems = 8, kBlockElems = 1, kBlockBytes = 4; };
template <> struct PieceTraits<DType::F16> { static constexpr int kElems = 8, kBlockElems = 1, kBlockBytes = 2; };
template <> struct PieceTraits<DType::BF16> { static constexpr int kElems = 8, kBlockElems = 1, kBlockBytes = 2; };

// decode_piece<T>(row, piece, w): w[0..E) = elements [piece * E, piece * E + E) of the row.
template <DType T> __device__ void decode_piece(const uint8_t* row, int64_t piece, float* w);

template <> __device__ __forceinline__ void decode_piece<DType::Q4_0>(const uint8_t* row, int64_t piece, float* w) {
  const uint8_t* b = row + piece * 18;
  const float d = half_bits_to_float(load_u16(b));
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint16_t two = load_u16(b + 2 + 2 * i);  // qs[2i], qs[2i+1]
    w[2 * i] = d * static_cast<float>((two & 0xF) - 8);
    w[2 * i + 1] = d * static_cast<float>(((two >> 8) & 0xF) - 8);
    w[16 + 2 * i] = d * static_cast<float>(((two >> 4) & 0xF) - 8);
    w[16 + 2 * i + 1] = d * static_cast<float>((two >> 12) - 8);
  }
}

template <> __device__ __forceinline__ void decode_piece<DType::Q8_0>(const uint8_t* row, int64_t piece, float* w) {
  const uint8_t* b = row + piece * 34;
  const float d = half_bits_to_float(load_u16(b));
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint16_t two = load_u16(b + 2 + 2 * i);
    w[2 * i] = d * static_cast<float>(static_cast<int8_t>(two & 0xFF));
    w[2 * i + 1] = d * static_cast<float>(static_cast<int8_t>(two >> 8));
  }
}

// Q4_K / Q5_K piece p (0..3) of a block: sub-blocks 2p (low nibbles) and 2p+1 (high nibbles).
template <bool kFifthBit>
__device__ __forceinline__ void decode_k_asym(const uint8_t* b, int p, float* w) {
  const float d = half_bits_to_float(load_u16(b)), dmin = half_bits_to_float(load_u16(b + 2));
  int sc0, m0, sc1, m1;
  unpack_scale_min(b + 4, 2 * p, sc0, m0);
  unpack_scale_min(b + 4, 2 * p + 1, sc1, m1);
  const float step0 = d * sc0, off0 = dmin * m0, step1 = d * sc1, off1 = dmin * m1;
  const uint8_t* qs = b + (kFifthBit ? 48 : 16) + 32 * p;
  uint4 q[2], h[2];
  q[0] = reinterpret_cast<const uint4*>(qs)[0];
  q[1] = reinterpret_cast<const uint4*>(qs)[1];
  if (kFifthBit) {
    h[0] = reinterpret_cast<const uint4*>(b + 16)[0];
    h[1] = reinterpret_cast<const uint4*>(b + 16)[1];
  }
  const uint32_t* qw = reinterpret_cast<const uint32_t*>(q);
  const uint32_t* hw = reinterpret_cast<const uint32_t*>(h);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t byte = (qw[i] >> (8 * k)) & 0xFF;
      int lo = byte & 0xF, hi = byte >> 4;
      if (kFifthBit) {
        const uint32_t hb = (hw[i] >> (8 * k)) & 0xFF;
        lo |= ((hb >> (2 * p)) & 1) << 4;
        hi |= ((hb >> (2 * p + 1)) & 1) << 4;
      }
      w[4 * i + k] = step0 * static_cast<float>(lo) - off0;
      w[32 + 4 * i + k] = step1 * static_cast<float>(hi) - off1;
    }
  }
}

template <> __device__ __forceinline__ void decode_piece<DType::Q4_K>(const uint8_t* row, int64_t piece, float* w) {
  decode_k_asym<false>(row + (piece >> 2) * 144, static_cast<int>(piece & 3), w);
}
template <> __device__ __forceinline__ void decode_piece<DType::Q5_K>(const uint8_t* row, int64_t piece, float* w) {
  decode_k_asym<true>(row + (piece >> 2) * 176, static_cast<int>(piece & 3), w);
}

// Q6_K piece = quarter k of half h (elements 128h + 32k + l, l < 32); see quant_k.cpp.
template <> __device__ __forceinline__ void decode_piece<DType::Q6_K>(const uint8_t* row, int64_t piece, float* w) {
  const uint8_t* b = row + (piece >> 3) * 210;
  const int h = static_cast<int>(piece >> 2) & 1, k = static_cast<int>(piece & 3);
  const uint8_t* ql = b + 64 * h + 32 * (k & 1);
  const uint8_t* qh = b + 128 + 32 * h;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_bits_to_float(load_u16(b + 208));
  const float step0 = d * scales[8 * h + 2 * k], step1 = d * scales[8 * h + 2 * k + 1];
  const int low_shift = 4 * (k >> 1), high_shift = 2 * k;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint16_t l2 = load_u16(ql + 2 * i), h2 = load_u16(qh + 2 * i);
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int lq = (l2 >> (8 * e + low_shift)) & 0xF;
      const int hq = (h2 >> (8 * e + high_shift)) & 3;
      const int l = 2 * i + e;
      w[l] = (l < 16 ? step0 : step1) * static_cast<float>((lq | (hq << 4)) - 32);
    }
  }
}

template <> __device__ __forceinline__ void decode_piece<DType::F32>(const uint8_t* row, int64_t piece, float* w) {
  const float4* p = reinterpret_cast<const float4*>(row + piece * 32);
  const float4 a = p[0], c = p[1];
  w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w; w[4] = c.x; w[5] = c.y; w[6] = c.z; w[7] = c.w;
}
template <> __device__ __forceinline__ void decode_piece<DType::F16>(const uint8_t* row, int64_t piece, float* w) {
  const uint4 v = *reinterpret_cast<const uint4*>(row + piece * 16);
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    w[2 * i] = half_bits_to_float(static_cast<uint16_t>(words[i] & 0xFFFF));
    w[2 * i + 1] = half_bits_to_float(static_cast<uint16_t>(words[i] >> 16));
  }
}
template <> __device__ __forceinline__ void decode_piece<DType::BF16>(const uint8_t* row, int64_t piece, float* w) {
  const uint4 v = *reinterpret_cast<const uint4*>(row + piece * 16);
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    w[2 * i] = __uint_as_float(words[i] << 16);
    w[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
  }
}

}  // namespace hearth::kernels::cuda::detail
