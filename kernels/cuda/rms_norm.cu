#include "kernels/cuda/rms_norm.h"

namespace hearth::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// Sum over the block of one double per thread; every thread gets the total.
__device__ double block_sum(double v) {
  __shared__ double partial[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int i = 0; i < kThreads / 32; ++i) total += partial[i];
  __syncthreads();  // partial[] may be reused by a later call
  return total;
}

// One block per row.
__global__ void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps,
                                const int32_t* row_index) {
  const int64_t out_row = blockIdx.x;
  const int64_t in_row = row_index ? row_index[out_row] : out_row;
  const float* xr = x + in_row * n;
  float* yr = y + out_row * n;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) sum += static_cast<double>(xr[i]) * xr[i];
  sum = block_sum(sum);
  const float scale = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), w[i]);
}

__global__ void residual_rms_norm_kernel(float* x, const float* delta, const float* w, float* y, int64_t n,
                                         float eps) {
  const int64_t row = blockIdx.x;
  float* xr = x + row * n;
  const float* dr = delta + row * n;
  float* yr = y + row * n;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const float v = __fadd_rn(xr[i], dr[i]);
    xr[i] = v;
    sum += static_cast<double>(v) * v;
  }
  sum = block_sum(sum);
  const float scale = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), w[i]);
}

bool bad_shape(int64_t rows, int64_t n) { return rows < 0 || n <= 0 || rows > 0x7fffffff; }

}  // namespace

cudaError_t rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps,
                     cudaStream_t stream, const int32_t* row_index) {
  if (bad_shape(rows, n)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, w, y, n, eps, row_index);
  return cudaGetLastError();
}

cudaError_t residual_rms_norm(float* x, const float* delta, const float* w, float* y, int64_t rows, int64_t n,
                              float eps, cudaStream_t stream) {
  if (bad_shape(rows, n)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  residual_rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, delta, w, y, n, eps);
  return cudaGetLastError();
}

}  // namespace hearth::kernels::cuda
