// quant_gemm (quant_matmul.h): prefill-sized products on tensor cores.
//   m <= kMaxMatvecRows (64): quant_matvec.
//   quantized W: per tile of W (a block of rows, and when a row is too long for the tile budget
//     a slice of its columns), dequantize W[tile] to FP16 in the workspace in one pass (16-byte
//     coalesced stores), then y[:, tile rows] (+)= x16[:, tile cols] . Wtile^T with cublasGemmEx
//     (FP16 inputs, FP32 accumulate and output; column slices after the first accumulate, beta 1).
//     Tiles keep >= 4096 output rows where the matrix has them, so each GEMM fills the device.
//   F16 / BF16 W: used in place (x converted to the same 16-bit type). F32 W: FP32 GEMM.
// Workspace: [x converted to 16 bits: m * cols][W tile: tile rows * tile cols halves], 256-aligned.
// [pre4: tile plan with column slices, coalesced dequantization; quant_gemm_tiles.h]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "kernels/cuda/dequantize8.cuh"
#include "kernels/cuda/quant_blocks.cuh"
#include "kernels/cuda/quant_checks.h"
#include "kernels/cuda/quant_gemm_tiles.h"
#include "kernels/cuda/quant_matmul.h"

namespace hearth::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMinTileRows = 4096;  // output rows per GEMM worth keeping (fills the device)
constexpr int64_t kSliceUnit = 256;     // column slices: a multiple of every block size

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

bool needs_tile(DType t) { return t != DType::F16 && t != DType::BF16 && t != DType::F32; }

cudaError_t from_cublas(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return cudaSuccess;
    case CUBLAS_STATUS_ALLOC_FAILED: return cudaErrorMemoryAllocation;
    case CUBLAS_STATUS_NOT_INITIALIZED:
    case CUBLAS_STATUS_INVALID_VALUE: return cudaErrorInvalidValue;
    case CUBLAS_STATUS_ARCH_MISMATCH:
    case CUBLAS_STATUS_NOT_SUPPORTED: return cudaErrorNotSupported;
    case CUBLAS_STATUS_EXECUTION_FAILED: return cudaErrorLaunchFailure;
    default: return cudaErrorUnknown;
  }
}

// dst[r, c] = W[row0 + r, col0 + c] as FP16, dst [n_rows][n_cols] (n_cols % 8 == 0, col0 a
// multiple of the block size): one thread per 8 elements, one 16-byte store each.
template <DType T>
__global__ void dequantize_tile_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t row0, int64_t n_rows,
                                       int64_t col0, int64_t n_cols, __half* __restrict__ dst) {
  const int64_t chunks_per_row = n_cols / 8;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * chunks_per_row) return;
  const int64_t r = i / chunks_per_row, c = i - r * chunks_per_row;
  float v[8];
  detail::decode8<T>(w + (row0 + r) * row_bytes, col0 + 8 * c, v);
  reinterpret_cast<uint4*>(dst)[i] = detail::pack8_half(v);
}

// x (float) -> 16-bit, 4 elements per step when x is 16-byte aligned (vector4), else one.
template <typename Half16>
__global__ void convert_activations_kernel(const float* __restrict__ x, int64_t n, bool vector4,
                                           Half16* __restrict__ dst) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t n4 = vector4 ? n / 4 : 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 v = reinterpret_cast<const float4*>(x)[i];
    if constexpr (std::is_same_v<Half16, __half>) {
      reinterpret_cast<__half2*>(dst)[2 * i] = __floats2half2_rn(v.x, v.y);
      reinterpret_cast<__half2*>(dst)[2 * i + 1] = __floats2half2_rn(v.z, v.w);
    } else {
      reinterpret_cast<__nv_bfloat162*>(dst)[2 * i] = __floats2bfloat162_rn(v.x, v.y);
      reinterpret_cast<__nv_bfloat162*>(dst)[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
    }
  }
  for (int64_t i = 4 * n4 + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if constexpr (std::is_same_v<Half16, __half>) {
      dst[i] = __float2half_rn(x[i]);
    } else {
      dst[i] = __float2bfloat16_rn(x[i]);
    }
  }
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 1 << 30)); }
unsigned convert_blocks(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n / 4 + kThreads - 1) / kThreads + 1, 4096)); }

template <typename Half16>
cudaError_t convert_activations(const float* x, int64_t n, Half16* dst, cudaStream_t s) {
  const bool vector4 = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  convert_activations_kernel<<<convert_blocks(vector4 ? n : 4 * n), kThreads, 0, s>>>(x, n, vector4, dst);
  return cudaGetLastError();
}

template <DType T>
cudaError_t launch_dequantize_tile(const QuantWeights& w, int64_t row_bytes, int64_t row0, int64_t n_rows,
                                   int64_t col0, int64_t n_cols, __half* dst, cudaStream_t s) {
  const int64_t n = n_rows * (n_cols / 8);
  dequantize_tile_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<const uint8_t*>(w.data), row_bytes, row0,
                                                               n_rows, col0, n_cols, dst);
  return cudaGetLastError();
}

cudaError_t dequantize_tile(const QuantWeights& w, int64_t row_bytes, int64_t row0, int64_t n_rows, int64_t col0,
                            int64_t n_cols, __half* dst, cudaStream_t s) {
  switch (w.type) {
    case DType::Q4_0: return launch_dequantize_tile<DType::Q4_0>(w, row_bytes, row0, n_rows, col0, n_cols, dst, s);
    case DType::Q8_0: return launch_dequantize_tile<DType::Q8_0>(w, row_bytes, row0, n_rows, col0, n_cols, dst, s);
    case DType::Q4_K: return launch_dequantize_tile<DType::Q4_K>(w, row_bytes, row0, n_rows, col0, n_cols, dst, s);
    case DType::Q5_K: return launch_dequantize_tile<DType::Q5_K>(w, row_bytes, row0, n_rows, col0, n_cols, dst, s);
    case DType::Q6_K: return launch_dequantize_tile<DType::Q6_K>(w, row_bytes, row0, n_rows, col0, n_cols, dst, s);
    default: return cudaErrorInvalidValue;
  }
}

// y[m, rows] (row-major, leading dimension ldy) seen by cuBLAS as the column-major rows x m
// matrix C = W . x^T: A = W tile (row-major [n_rows, k] with row stride lda = column-major
// k x n_rows, op T), B = x (m rows of stride ldx, op N). beta 0 writes C, 1 accumulates.
cudaError_t gemm_16bit(cublasHandle_t h, cudaDataType type, const void* w_tile, int64_t n_rows, int64_t lda,
                       const void* x16, int64_t ldx, int64_t m, int64_t k, float* y_col0, int64_t ldy, float beta) {
  const float alpha = 1.0f;
  return from_cublas(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_rows), static_cast<int>(m),
                                  static_cast<int>(k), &alpha, w_tile, type, static_cast<int>(lda), x16, type,
                                  static_cast<int>(ldx), &beta, y_col0, CUDA_R_32F, static_cast<int>(ldy),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

GemmTilePlan gemm_tile_plan(int64_t w_rows, int64_t w_cols, int64_t tile_elements) {
  if (w_rows <= 0 || w_cols <= 0) return {std::max<int64_t>(w_rows, 0), std::max<int64_t>(w_cols, 0)};
  tile_elements = std::max<int64_t>(tile_elements, kSliceUnit * 128);
  if (w_rows <= tile_elements / w_cols) return {w_rows, w_cols};  // the whole matrix
  const int64_t want_rows = std::min(w_rows, kMinTileRows);
  const int64_t whole_rows = tile_elements / w_cols / 128 * 128;
  if (whole_rows >= want_rows) return {std::min(whole_rows, w_rows), w_cols};
  const int64_t slice = std::max<int64_t>(kSliceUnit, tile_elements / want_rows / kSliceUnit * kSliceUnit);
  return {want_rows, std::min(slice, w_cols)};
}

size_t gemm_workspace_bytes_tiled(const QuantWeights& w, int64_t m, int64_t tile_elements) {
  if (m <= kMaxMatvecRows) return matvec_workspace_bytes(w, m);
  if (w.cols <= 0 || w.rows <= 0 || w.type == DType::F32) return 0;
  size_t bytes = align256(static_cast<size_t>(m) * static_cast<size_t>(w.cols) * 2);
  if (needs_tile(w.type)) {
    const GemmTilePlan p = gemm_tile_plan(w.rows, w.cols, tile_elements);
    bytes += align256(static_cast<size_t>(p.rows) * static_cast<size_t>(p.cols) * 2);
  }
  return bytes;
}

size_t gemm_workspace_bytes(const QuantWeights& w, int64_t m) { return gemm_workspace_bytes_tiled(w, m, kGemmTileElements); }

cudaError_t quant_gemm(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                       cublasHandle_t cublas, cudaStream_t stream) {
  return quant_gemm_tiled(w, x, m, y, workspace, cublas, stream, kGemmTileElements);
}

cudaError_t quant_gemm_tiled(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                             cublasHandle_t cublas, cudaStream_t stream, int64_t tile_elements) {
  if (m <= kMaxMatvecRows) return quant_matvec(w, x, m, y, workspace, stream);
  if (const cudaError_t e = detail::check_product_args(w, x, m, y); e != cudaSuccess) return e;
  if (w.rows == 0) return cudaSuccess;
  if (w.cols == 0) return cudaMemsetAsync(y, 0, static_cast<size_t>(m * w.rows) * sizeof(float), stream);
  if (w.repacked || cublas == nullptr) return cudaErrorInvalidValue;
  // cuBLAS takes int sizes and leading dimensions.
  constexpr int64_t kIntMax = 0x7FFFFFFF;
  if (w.rows > kIntMax || w.cols > kIntMax || m > kIntMax) return cudaErrorInvalidValue;
  if (const cublasStatus_t s = cublasSetStream(cublas, stream); s != CUBLAS_STATUS_SUCCESS) return from_cublas(s);

  if (w.type == DType::F32) {
    const float alpha = 1.0f, beta = 0.0f;
    return from_cublas(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.rows), static_cast<int>(m),
                                    static_cast<int>(w.cols), &alpha, w.data, CUDA_R_32F, static_cast<int>(w.cols), x,
                                    CUDA_R_32F, static_cast<int>(w.cols), &beta, y, CUDA_R_32F,
                                    static_cast<int>(w.rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  if (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return cudaErrorInvalidValue;
  auto* ws = static_cast<uint8_t*>(workspace);
  const int64_t x_elems = m * w.cols;
  if (w.type == DType::BF16) {
    auto* xb = reinterpret_cast<__nv_bfloat16*>(ws);
    if (const cudaError_t e = convert_activations(x, x_elems, xb, stream); e != cudaSuccess) return e;
    return gemm_16bit(cublas, CUDA_R_16BF, w.data, w.rows, w.cols, xb, w.cols, m, w.cols, y, w.rows, 0.0f);
  }
  auto* xh = reinterpret_cast<__half*>(ws);
  if (const cudaError_t e = convert_activations(x, x_elems, xh, stream); e != cudaSuccess) return e;
  if (w.type == DType::F16) return gemm_16bit(cublas, CUDA_R_16F, w.data, w.rows, w.cols, xh, w.cols, m, w.cols, y, w.rows, 0.0f);

  if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0) return cudaErrorMisalignedAddress;
  auto* tile = reinterpret_cast<__half*>(ws + align256(static_cast<size_t>(x_elems) * 2));
  const auto rb = static_cast<int64_t>(detail::checked_row_bytes(w.type, w.cols));
  const GemmTilePlan plan = gemm_tile_plan(w.rows, w.cols, tile_elements);
  for (int64_t row0 = 0; row0 < w.rows; row0 += plan.rows) {
    const int64_t n = std::min(plan.rows, w.rows - row0);
    for (int64_t col0 = 0; col0 < w.cols; col0 += plan.cols) {
      const int64_t k = std::min(plan.cols, w.cols - col0);
      if (const cudaError_t e = dequantize_tile(w, rb, row0, n, col0, k, tile, stream); e != cudaSuccess) return e;
      if (const cudaError_t e = gemm_16bit(cublas, CUDA_R_16F, tile, n, k, xh + col0, w.cols, m, k, y + row0, w.rows,
                                           col0 == 0 ? 0.0f : 1.0f);
          e != cudaSuccess) {
        return e;
      }
    }
  }
  return cudaSuccess;
}

}  // namespace hearth::kernels::cuda
