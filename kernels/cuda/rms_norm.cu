#include "kernels/cuda/rms_norm.h"

#include "kernels/cuda/chained_launch.cuh"
#include "kernels/cuda/q8_activation_block.cuh"

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

// The int8 form of quant_matmul.h's q8 input, written beside y when qx is set: the output loop
// walks each row in steps of kThreads (a multiple of 32), so warp w of a step holds one whole
// 32-element block when n % 32 == 0 (the launchers check it).
// super256 (Q8Form::kSuper256): the whole row is quantized per 256 after it is written (see
// finish_row_q8), not per 32 in the output loop.
struct Q8Out {
  int8_t* qx = nullptr;  // [rows, n]
  float2* dsx = nullptr; // [rows, n / 32]
  bool super256 = false;
};

__device__ __forceinline__ void store_output(float* yr, int64_t row, int64_t n, int64_t i, float v, const Q8Out& q8) {
  yr[i] = v;
  if (q8.qx && !q8.super256) {
    const int64_t blk = (row * n + i) / 32;
    detail::quantize_block_warp(v, q8.qx + blk * 32, q8.dsx + blk);
  }
}

// kSuper256 output: every thread of the block calls this after writing row `row` of y.
__device__ __forceinline__ void finish_row_q8(const float* yr, int64_t row, int64_t n, const Q8Out& q8) {
  if (!q8.qx || !q8.super256) return;
  __syncthreads();  // the row's y values of every thread are visible to the block
  detail::quantize_range_super256_block(yr, n, q8.qx + row * n, q8.dsx + row * (n / 32));
}

// One block per row.
__global__ void rms_norm_kernel(const float* x, const float* w, float* y, int64_t n, float eps,
                                const int32_t* row_index, Q8Out q8) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t out_row = blockIdx.x;
  const int64_t in_row = row_index ? row_index[out_row] : out_row;
  const float* xr = x + in_row * n;
  float* yr = y + out_row * n;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) sum += static_cast<double>(xr[i]) * xr[i];
  sum = block_sum(sum);
  const float scale = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    store_output(yr, out_row, n, i, __fmul_rn(__fmul_rn(xr[i], scale), w[i]), q8);
  }
  finish_row_q8(yr, out_row, n, q8);
}

__global__ void residual_rms_norm_kernel(float* x, const float* delta, const float* w, float* y, int64_t n,
                                         float eps, Q8Out q8) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
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
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    store_output(yr, row, n, i, __fmul_rn(__fmul_rn(xr[i], scale), w[i]), q8);
  }
  finish_row_q8(yr, row, n, q8);
}

// Fast path for rows of up to kMaxFastCols (every hidden size of the supported models): the row
// is held in registers, kFastPerThread elements per thread at stride blockDim.x (a multiple of
// 32, so warp w of step k holds one whole 32-element block for the q8 output), and all of a
// thread's loads are issued before the first use: one memory latency per pass instead of one
// per element. blockDim.x = fast_threads(n) (<= 1024). With `delta`: x += delta first (written
// back). Same arithmetic per element as the kernels above; only the double sum's order differs.
constexpr int kFastPerThread = 8;
constexpr int64_t kMaxFastCols = 1024 * kFastPerThread;

__device__ double block_sum_any(double v) {
  __shared__ double partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int i = 0; i < warps; ++i) total += partial[i];
  return total;
}

// __launch_bounds__(1024): up to 1024 threads per block, so at most 64 registers per thread.
__global__ void __launch_bounds__(1024) rms_norm_fast_kernel(float* x, const float* delta, const float* w, float* y, int n, float eps,
                                     const int32_t* row_index, Q8Out q8) {
  const int stride = blockDim.x;
  // The weights are constant (no kernel writes them): loaded before waiting for the previous
  // kernel, overlapping its tail (programmatic dependent launch, chained_launch.cuh).
  float v[kFastPerThread], wv[kFastPerThread];
#pragma unroll
  for (int k = 0; k < kFastPerThread; ++k) {
    const int i = threadIdx.x + k * stride;
    wv[k] = i < n ? w[i] : 0.0f;
  }
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t out_row = blockIdx.x;
  const int64_t in_row = row_index ? row_index[out_row] : out_row;
  float* xr = x + in_row * n;
  float* yr = y + out_row * n;
#pragma unroll
  for (int k = 0; k < kFastPerThread; ++k) {
    const int i = threadIdx.x + k * stride;
    v[k] = i < n ? xr[i] : 0.0f;
  }
  if (delta) {
    const float* dr = delta + in_row * n;
#pragma unroll
    for (int k = 0; k < kFastPerThread; ++k) {
      const int i = threadIdx.x + k * stride;
      if (i < n) {
        v[k] = __fadd_rn(v[k], dr[i]);
        xr[i] = v[k];
      }
    }
  }
  double sum = 0.0;
#pragma unroll
  for (int k = 0; k < kFastPerThread; ++k) sum += static_cast<double>(v[k]) * v[k];
  sum = block_sum_any(sum);
  const float scale = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(n) + eps));
#pragma unroll
  for (int k = 0; k < kFastPerThread; ++k) {
    const int i = threadIdx.x + k * stride;
    if (k * stride < n) {  // uniform over the block: q8 needs whole warps (n % 32 == 0 then)
      if (i < n) store_output(yr, out_row, n, i, __fmul_rn(__fmul_rn(v[k], scale), wv[k]), q8);
    }
  }
  finish_row_q8(yr, out_row, n, q8);
}

// Threads of the fast kernel for rows of n: about 4 elements each, whole warps, <= 1024.
unsigned fast_threads(int64_t n) {
  const int64_t t = ((n + 3) / 4 + 31) / 32 * 32;
  return static_cast<unsigned>(t < 1024 ? t : 1024);
}

bool bad_shape(int64_t rows, int64_t n) { return rows < 0 || n <= 0 || rows > 0x7fffffff; }

Q8Out q8_out(void* q8, int64_t rows, int64_t n, Q8Form form) {
  if (!q8) return {};
  const auto view = detail::q8_input_view(q8, static_cast<size_t>(rows * n));
  return {view.qx, view.dsx, form == Q8Form::kSuper256};
}
bool bad_q8(const void* q8, int64_t n, Q8Form form) {
  return q8 && (n % (form == Q8Form::kSuper256 ? 256 : 32) != 0 || reinterpret_cast<uintptr_t>(q8) % 16 != 0);
}

}  // namespace

cudaError_t rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps,
                     cudaStream_t stream, const int32_t* row_index) {
  if (bad_shape(rows, n)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  if (n <= kMaxFastCols) {
    return detail::launch_chained(rms_norm_fast_kernel, static_cast<unsigned>(rows), fast_threads(n), 0, stream,
                                  const_cast<float*>(x), static_cast<const float*>(nullptr), w, y, static_cast<int>(n),
                                  eps, row_index, Q8Out{});
  }
  return detail::launch_chained(rms_norm_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, x, w, y, n, eps,
                                row_index, Q8Out{});
}

cudaError_t residual_rms_norm(float* x, const float* delta, const float* w, float* y, int64_t rows, int64_t n,
                              float eps, cudaStream_t stream) {
  return residual_rms_norm_q8(x, delta, w, y, rows, n, eps, nullptr, stream, Q8Form::kBlock32);
}

cudaError_t rms_norm_q8(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps, void* q8,
                        cudaStream_t stream, Q8Form form) {
  if (bad_shape(rows, n) || bad_q8(q8, n, form)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  if (n <= kMaxFastCols) {
    return detail::launch_chained(rms_norm_fast_kernel, static_cast<unsigned>(rows), fast_threads(n), 0, stream,
                                  const_cast<float*>(x), static_cast<const float*>(nullptr), w, y, static_cast<int>(n),
                                  eps, static_cast<const int32_t*>(nullptr), q8_out(q8, rows, n, form));
  }
  return detail::launch_chained(rms_norm_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, x, w, y, n, eps,
                                static_cast<const int32_t*>(nullptr), q8_out(q8, rows, n, form));
}

cudaError_t residual_rms_norm_q8(float* x, const float* delta, const float* w, float* y, int64_t rows, int64_t n,
                                 float eps, void* q8, cudaStream_t stream, Q8Form form) {
  if (bad_shape(rows, n) || bad_q8(q8, n, form)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  if (n <= kMaxFastCols) {
    return detail::launch_chained(rms_norm_fast_kernel, static_cast<unsigned>(rows), fast_threads(n), 0, stream, x,
                                  delta, w, y, static_cast<int>(n), eps, static_cast<const int32_t*>(nullptr),
                                  q8_out(q8, rows, n, form));
  }
  return detail::launch_chained(residual_rms_norm_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, x, delta,
                                w, y, n, eps, q8_out(q8, rows, n, form));
}

}  // namespace hearth::kernels::cuda
