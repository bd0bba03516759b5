#include "kernels/cuda/elementwise.h"

#include "kernels/cuda/chained_launch.cuh"

#include <algorithm>

namespace hearth::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void add_bias_rows_kernel(float* y, const float* bias, int64_t total, int64_t n) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    y[i] = __fadd_rn(y[i], bias[i % n]);
  }
}

__global__ void add_inplace_kernel(float* y, const float* x, int64_t n) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n; i += int64_t{gridDim.x} * kThreads) {
    y[i] = __fadd_rn(y[i], x[i]);
  }
}

__global__ void copy_columns_kernel(const float* src, int64_t src_cols, int64_t col0, int64_t width, float* dst,
                                    int64_t total) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    dst[i] = src[(i / width) * src_cols + col0 + i % width];
  }
}

unsigned grid_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }

}  // namespace

cudaError_t add_bias_rows(float* y, const float* bias, int64_t rows, int64_t n, cudaStream_t stream) {
  if (rows < 0 || n <= 0 || rows > (int64_t{1} << 40) / n) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  return detail::launch_chained(add_bias_rows_kernel, grid_for(rows * n), kThreads, 0, stream, y, bias, rows * n, n);
}

cudaError_t copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col0, int64_t width, float* dst,
                         cudaStream_t stream) {
  if (rows < 0 || width <= 0 || col0 < 0 || col0 + width > src_cols || rows > (int64_t{1} << 40) / src_cols) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  return detail::launch_chained(copy_columns_kernel, grid_for(rows * width), kThreads, 0, stream, src, src_cols, col0,
                                width, dst, rows * width);
}

cudaError_t add_inplace(float* y, const float* x, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  return detail::launch_chained(add_inplace_kernel, grid_for(n), kThreads, 0, stream, y, x, n);
}

}  // namespace hearth::kernels::cuda
