// quant_gemm (quant_matmul.h): prefill-sized products on tensor cores.
//   m <= 16: quant_matvec.
//   quantized W: per tile of rows, dequantize W[tile, cols] to FP16 in the workspace, then
//     y[:, tile] = x16 . Wtile^T with cublasGemmEx (FP16 inputs, FP32 accumulate and output).
//   F16 / BF16 W: used in place (x converted to the same 16-bit type). F32 W: FP32 GEMM.
// Workspace: [x converted to 16 bits: m * cols][W tile: tile_rows * cols halves], 256-aligned.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/quant_blocks.cuh"
#include "kernels/cuda/quant_checks.h"
#include "kernels/cuda/quant_matmul.h"

namespace hearth::kernels::cuda {
namespace {

constexpr int64_t kTileElements = int64_t{16} << 20;  // 32 MiB of FP16 per W tile
constexpr int kThreads = 256;

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

int64_t tile_rows_for(int64_t rows, int64_t cols) {
  if (cols <= 0) return rows;
  const int64_t t = std::max<int64_t>(64, kTileElements / cols / 64 * 64);
  return std::min(rows, t);
}

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

// dst[row - row0, c] = W[row, c] as FP16 for rows [row0, row0 + n_rows): one piece per thread.
template <DType T>
__global__ void dequantize_tile_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t row0, int64_t n_rows,
                                       int64_t cols, __half* __restrict__ dst) {
  constexpr int E = detail::PieceTraits<T>::kElems;
  const int64_t pieces_per_row = cols / E;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * pieces_per_row) return;
  const int64_t r = i / pieces_per_row, p = i % pieces_per_row;
  float v[E];
  detail::decode_piece<T>(w + (row0 + r) * row_bytes, p, v);
  __half2* out = reinterpret_cast<__half2*>(dst + r * cols + p * E);
#pragma unroll
  for (int k = 0; k < E / 2; ++k) out[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
}

template <typename Half16>
__global__ void convert_activations_kernel(const float* __restrict__ x, int64_t n, Half16* __restrict__ dst) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (sizeof(Half16) == 2 && std::is_same_v<Half16, __half>) {
      dst[i] = __float2half_rn(x[i]);
    } else {
      dst[i] = __float2bfloat16_rn(x[i]);
    }
  }
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 1 << 30)); }

template <DType T>
cudaError_t launch_dequantize_tile(const QuantWeights& w, int64_t row_bytes, int64_t row0, int64_t n_rows, __half* dst,
                                   cudaStream_t s) {
  const int64_t n = n_rows * (w.cols / detail::PieceTraits<T>::kElems);
  dequantize_tile_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(static_cast<const uint8_t*>(w.data), row_bytes, row0,
                                                               n_rows, w.cols, dst);
  return cudaGetLastError();
}

cudaError_t dequantize_tile(const QuantWeights& w, int64_t row_bytes, int64_t row0, int64_t n_rows, __half* dst,
                            cudaStream_t s) {
  switch (w.type) {
    case DType::Q4_0: return launch_dequantize_tile<DType::Q4_0>(w, row_bytes, row0, n_rows, dst, s);
    case DType::Q8_0: return launch_dequantize_tile<DType::Q8_0>(w, row_bytes, row0, n_rows, dst, s);
    case DType::Q4_K: return launch_dequantize_tile<DType::Q4_K>(w, row_bytes, row0, n_rows, dst, s);
    case DType::Q5_K: return launch_dequantize_tile<DType::Q5_K>(w, row_bytes, row0, n_rows, dst, s);
    case DType::Q6_K: return launch_dequantize_tile<DType::Q6_K>(w, row_bytes, row0, n_rows, dst, s);
    default: return cudaErrorInvalidValue;
  }
}

// y[m, rows] (row-major) seen by cuBLAS as the column-major rows x m matrix C = W . x^T:
// A = W tile (row-major [n_rows, cols] = column-major cols x n_rows, op T), B = x (op N).
cudaError_t gemm_16bit(cublasHandle_t h, cudaDataType type, const void* w_tile, int64_t n_rows, const void* x16,
                       int64_t m, int64_t cols, float* y_col0, int64_t ldy) {
  const float alpha = 1.0f, beta = 0.0f;
  return from_cublas(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_rows), static_cast<int>(m),
                                  static_cast<int>(cols), &alpha, w_tile, type, static_cast<int>(cols), x16, type,
                                  static_cast<int>(cols), &beta, y_col0, CUDA_R_32F, static_cast<int>(ldy),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

size_t gemm_workspace_bytes(const QuantWeights& w, int64_t m) {
  if (m <= 16) return matvec_workspace_bytes(w, m);
  if (w.cols <= 0 || w.rows <= 0 || w.type == DType::F32) return 0;
  size_t bytes = align256(static_cast<size_t>(m) * static_cast<size_t>(w.cols) * 2);
  if (needs_tile(w.type)) bytes += align256(static_cast<size_t>(tile_rows_for(w.rows, w.cols) * w.cols) * 2);
  return bytes;
}

cudaError_t quant_gemm(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                       cublasHandle_t cublas, cudaStream_t stream) {
  if (m <= 16) return quant_matvec(w, x, m, y, workspace, stream);
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
    convert_activations_kernel<<<blocks_for(x_elems), kThreads, 0, stream>>>(x, x_elems, xb);
    if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    return gemm_16bit(cublas, CUDA_R_16BF, w.data, w.rows, xb, m, w.cols, y, w.rows);
  }
  auto* xh = reinterpret_cast<__half*>(ws);
  convert_activations_kernel<<<blocks_for(x_elems), kThreads, 0, stream>>>(x, x_elems, xh);
  if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  if (w.type == DType::F16) return gemm_16bit(cublas, CUDA_R_16F, w.data, w.rows, xh, m, w.cols, y, w.rows);

  if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0) return cudaErrorMisalignedAddress;
  auto* tile = reinterpret_cast<__half*>(ws + align256(static_cast<size_t>(x_elems) * 2));
  const auto rb = static_cast<int64_t>(detail::checked_row_bytes(w.type, w.cols));
  const int64_t tile_rows = tile_rows_for(w.rows, w.cols);
  for (int64_t row0 = 0; row0 < w.rows; row0 += tile_rows) {
    const int64_t n = std::min(tile_rows, w.rows - row0);
    if (const cudaError_t e = dequantize_tile(w, rb, row0, n, tile, stream); e != cudaSuccess) return e;
    if (const cudaError_t e = gemm_16bit(cublas, CUDA_R_16F, tile, n, xh, m, w.cols, y + row0, w.rows); e != cudaSuccess) {
      return e;
    }
  }
  return cudaSuccess;
}

}  // namespace hearth::kernels::cuda
