#pragma once
// The generic fused dequantize-and-multiply kernel: weights in GGUF layout, float activations.
//   y[r, row] = sum_c x[r, c] * W[row, c]   for r < m <= kMaxM
// One warp per weight row; its lanes walk the row's pieces (quant_blocks.cuh), decode each piece
// once and multiply it with the same columns of every activation row, so W is read once for all
// m rows. Warp-shuffle reduction at the end; lane 0 writes the m outputs of the row.
#include <cuda_runtime.h>

#include "kernels/cuda/quant_blocks.cuh"

namespace hearth::kernels::cuda::detail {

inline constexpr int kFloatMatvecWarps = 4;  // rows per thread block

template <DType T, int kMaxM>
__global__ void __launch_bounds__(32 * kFloatMatvecWarps)
    matvec_float_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t rows, int64_t cols,
                        const float* __restrict__ x, int m, float* __restrict__ y) {
  constexpr int E = PieceTraits<T>::kElems;
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kFloatMatvecWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const uint8_t* wrow = w + row * row_bytes;
  const int64_t pieces = cols / E;
  float acc[kMaxM];
#pragma unroll
  for (int r = 0; r < kMaxM; ++r) acc[r] = 0.0f;
  for (int64_t p = lane; p < pieces; p += 32) {
    float wv[E];
    decode_piece<T>(wrow, p, wv);
#pragma unroll
    for (int r = 0; r < kMaxM; ++r) {
      if (r < m) {
        const float4* xv = reinterpret_cast<const float4*>(x + r * cols + p * E);
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < E / 4; ++i) {
          const float4 v = __ldg(xv + i);
          s = fmaf(wv[4 * i], v.x, s);
          s = fmaf(wv[4 * i + 1], v.y, s);
          s = fmaf(wv[4 * i + 2], v.z, s);
          s = fmaf(wv[4 * i + 3], v.w, s);
        }
        acc[r] += s;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxM; ++r) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc[r] += __shfl_xor_sync(0xFFFFFFFFu, acc[r], off);
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kMaxM; ++r) {
      if (r < m) y[r * rows + row] = acc[r];
    }
  }
}

// Float weights whose rows are not a whole number of 16-byte vectors: element by element.
template <DType T>
__global__ void matvec_float_scalar_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t rows,
                                           int64_t cols, const float* __restrict__ x, int m, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kFloatMatvecWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const uint8_t* wrow = w + row * row_bytes;
  for (int r = 0; r < m; ++r) {
    float acc = 0.0f;
    for (int64_t c = lane; c < cols; c += 32) {
      float wv;
      if constexpr (T == DType::F32) {
        wv = reinterpret_cast<const float*>(wrow)[c];
      } else if constexpr (T == DType::F16) {
        wv = half_bits_to_float(reinterpret_cast<const uint16_t*>(wrow)[c]);
      } else {
        wv = bf16_bits_to_float(reinterpret_cast<const uint16_t*>(wrow)[c]);
      }
      acc = fmaf(wv, x[r * cols + c], acc);
    }
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, off);
    if (lane == 0) y[r * rows + row] = acc;
  }
}

}  // namespace hearth::kernels::cuda::detail
