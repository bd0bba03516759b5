#pragma once
// The integer matvec path for quantized weights:
//  1. quantize_activations (quant_activations.cu): x[m, cols] float -> qx int8 [m, cols] + dsx
//     float2 [m, cols/32] (d = amax / 127, q = round(x / d), (d, d * sum q)).
//  2. matvec_q8_kernel<T, kMaxM, kRows, kGroup>: a group of kGroup threads (one warp, or the whole
//     thread block of 128) owns kRows weight rows.
//     Its lanes walk the rows' blocks, kLanesPerBlock lanes per weight block (quant_dot_q8.cuh):
//     each lane loads its share of the block for all kRows rows, then for every activation row
//     loads the matching int8 activations once and accumulates kRows dot products, so W is read
//     once for all m rows and each activation load serves kRows rows. Shuffle + shared-memory
//     reduction at the end; y[r, row] written by one thread each.
#include <cuda_runtime.h>

#include "kernels/cuda/chained_launch.cuh"
#include "kernels/cuda/quant_dot_q8.cuh"

namespace hearth::kernels::cuda::detail {

inline constexpr int kQ8MatvecThreads = 128;

// kGroup threads (a warp, 32, or the whole thread block, 128) share kRows weight rows.
template <DType T, int kMaxM, int kRows, int kGroup>
__global__ void __launch_bounds__(kQ8MatvecThreads)
    matvec_q8_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t rows, int64_t blocks_per_row,
                     const int8_t* __restrict__ qx, const float2* __restrict__ dsx, int64_t cols, int m,
                     float* __restrict__ y) {
  static_assert(kGroup == 32 || kGroup == kQ8MatvecThreads);
  using D = Q8Dot<T>;
  constexpr int kLanes = D::kLanesPerBlock;
  constexpr int kBlocksPerStep = kGroup / kLanes;
  const int tig = threadIdx.x % kGroup;  // thread in group
  const int slot = tig % kLanes;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * (kQ8MatvecThreads / kGroup) + threadIdx.x / kGroup) * kRows;
  // Rows past the end repeat the last row (no divergence in the loop); their sums are dropped.
  const uint8_t* wrow[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) wrow[r] = w + min(row0 + r, rows - 1) * row_bytes;
  const int64_t x_blocks_per_row = cols / 32;

  float acc[kRows][kMaxM];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < kMaxM; ++j) acc[r][j] = 0.0f;
  }
  // Software pipeline: the weights of the next step are loaded before this step's products (when
  // the registers allow), and the first step's weights before waiting for the activations
  // (programmatic dependent launch: the activation quantization may still be running).
  constexpr bool kPipeline = sizeof(typename D::WFrag) * kRows <= 96;
  int64_t b = tig / kLanes;
  typename D::WFrag cur[kRows];
  if (b < blocks_per_row) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) cur[r] = D::load_w(wrow[r] + b * D::kBlockBytes, slot);
  }
  wait_for_previous_grid();
  allow_dependent_launch();  // the next kernel waits for our completion before reading y
  for (; b < blocks_per_row; b += kBlocksPerStep) {
    const int64_t next = b + kBlocksPerStep;
    typename D::WFrag nxt[kRows];
    if (kPipeline && next < blocks_per_row) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) nxt[r] = D::load_w(wrow[r] + next * D::kBlockBytes, slot);
    }
#pragma unroll
    for (int j = 0; j < kMaxM; ++j) {
      if (j < m) {
        const typename D::XFrag xf = D::load_x(qx + j * cols, dsx + j * x_blocks_per_row, b, slot);
#pragma unroll
        // __fadd_rn: no contraction with the dot's last product, so every kMaxM instance
        // rounds alike and a row's result does not depend on m (batch invariance, issue 6).
        for (int r = 0; r < kRows; ++r) acc[r][j] = __fadd_rn(acc[r][j], D::dot(cur[r], xf, slot));
      }
    }
    if (next < blocks_per_row) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) cur[r] = kPipeline ? nxt[r] : D::load_w(wrow[r] + next * D::kBlockBytes, slot);
    }
  }

  // Reduce within each warp by shuffles; for 128-thread groups then across the 4 warps.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < kMaxM; ++j) {
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) acc[r][j] = __fadd_rn(acc[r][j], __shfl_xor_sync(0xFFFFFFFFu, acc[r][j], off));
    }
  }
  if constexpr (kGroup == 32) {
    // every lane holds every sum: lane i writes output i (row i / kMaxM, activation row i % kMaxM)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int j = 0; j < kMaxM; ++j) {
        if (lane == (r * kMaxM + j) % 32 && j < m && row0 + r < rows) y[j * rows + row0 + r] = acc[r][j];
      }
    }
  } else {
    __shared__ float partial[kQ8MatvecThreads / 32][kRows * kMaxM];
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int j = 0; j < kMaxM; ++j) partial[warp][r * kMaxM + j] = acc[r][j];
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kRows * kMaxM; i += kQ8MatvecThreads) {
      const int r = i / kMaxM, j = i % kMaxM;
      if (j < m && row0 + r < rows) {
        float v = 0.0f;
#pragma unroll
        for (int k = 0; k < kQ8MatvecThreads / 32; ++k) v = __fadd_rn(v, partial[k][i]);
        y[j * rows + row0 + r] = v;
      }
    }
  }
}

}  // namespace hearth::kernels::cuda::detail
