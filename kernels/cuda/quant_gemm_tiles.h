#pragma once
// How quant_gemm (quant_matmul.h) splits a quantized W into FP16 tiles for the prefill GEMM, and
// an entry point with an explicit tile budget so tests can force every split on small matrices.
// Host-callable from plain C++. [pre4]
//
// A tile is `rows` consecutive rows by `cols` consecutive columns of W. The plan keeps every row
// whole when at least min(W rows, 4096) rows fit the budget (each GEMM then has enough output
// tiles to fill the device); otherwise it takes min(W rows, 4096) rows and slices the columns
// (slices after the first accumulate into y). Column slices are multiples of 256 elements, which
// every quantized type's block divides.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/quant_matmul.h"

namespace hearth::kernels::cuda {

struct GemmTilePlan {
  int64_t rows = 0;
  int64_t cols = 0;
};

// The default budget: 32M halves (64 MiB) of dequantized W per tile.
constexpr int64_t kGemmTileElements = int64_t{32} << 20;

GemmTilePlan gemm_tile_plan(int64_t w_rows, int64_t w_cols, int64_t tile_elements = kGemmTileElements);

// gemm_workspace_bytes / quant_gemm with an explicit tile budget (>= 256 * 128 elements).
size_t gemm_workspace_bytes_tiled(const QuantWeights& w, int64_t m, int64_t tile_elements);
cudaError_t quant_gemm_tiled(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                             cublasHandle_t cublas, cudaStream_t stream, int64_t tile_elements);

}  // namespace hearth::kernels::cuda
