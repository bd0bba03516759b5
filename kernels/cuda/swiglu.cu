#include "kernels/cuda/swiglu.h"

#include "kernels/cuda/chained_launch.cuh"

#include <algorithm>

#include "kernels/cuda/q8_activation_block.cuh"

namespace hearth::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void silu_mul_kernel(float* gate, const float* up, int64_t n) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n; i += int64_t{gridDim.x} * kThreads) {
    const float a = gate[i];
    // expf (not __expf): full precision, as the CPU reference.
    gate[i] = __fmul_rn(__fdiv_rn(a, __fadd_rn(1.0f, expf(-a))), up[i]);
  }
}

// qx / dsx (optional): the output also in quant_matmul.h's q8 input form. Each warp covers 32
// consecutive outputs in every step of the grid-stride loop, one whole 32-element block when
// n_ff % 32 == 0 (checked by the launcher), so the warp quantizes it with shuffles.
__global__ void silu_mul_halves_kernel(const float* gate_up, float* out, int64_t total, int64_t n_ff,
                                       int8_t* __restrict__ qx, float2* __restrict__ dsx) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    const int64_t r = i / n_ff, c = i % n_ff;
    const float a = gate_up[r * 2 * n_ff + c];
    const float v = __fmul_rn(__fdiv_rn(a, __fadd_rn(1.0f, expf(-a))), gate_up[r * 2 * n_ff + n_ff + c]);
    out[i] = v;
    if (qx) detail::quantize_block_warp(v, qx + (i & ~int64_t{31}), dsx + i / 32);
  }
}

// The same with the output in the kSuper256 form: each step of the grid-stride loop gives the
// block 256 consecutive outputs (n_ff % 256 == 0, so the trip count is the same for all its
// threads), one super-block, which its first warp quantizes from shared memory.
__global__ void silu_mul_halves_super256_kernel(const float* gate_up, float* out, int64_t total, int64_t n_ff,
                                                int8_t* __restrict__ qx, float2* __restrict__ dsx) {
  __shared__ float block_out[kThreads];
  detail::begin_chained_kernel();
  for (int64_t base = blockIdx.x * int64_t{kThreads}; base < total; base += int64_t{gridDim.x} * kThreads) {
    const int64_t i = base + threadIdx.x;
    const int64_t r = i / n_ff, c = i % n_ff;
    const float a = gate_up[r * 2 * n_ff + c];
    const float v = __fmul_rn(__fdiv_rn(a, __fadd_rn(1.0f, expf(-a))), gate_up[r * 2 * n_ff + n_ff + c]);
    out[i] = v;
    block_out[threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
      float q[8];
#pragma unroll
      for (int k = 0; k < 8; ++k) q[k] = block_out[8 * threadIdx.x + k];
      detail::quantize_superblock_warp(q, qx + base, dsx + base / 32);
    }
    __syncthreads();
  }
}

}  // namespace

cudaError_t silu_mul_halves(const float* gate_up, float* out, int64_t rows, int64_t n_ff, cudaStream_t stream) {
  return silu_mul_halves_q8(gate_up, out, rows, n_ff, nullptr, stream, Q8Form::kBlock32);
}

cudaError_t silu_mul_halves_q8(const float* gate_up, float* out, int64_t rows, int64_t n_ff, void* q8,
                               cudaStream_t stream, Q8Form form) {
  if (rows < 0 || n_ff <= 0 || rows > (int64_t{1} << 40) / n_ff) return cudaErrorInvalidValue;
  const bool super256 = form == Q8Form::kSuper256;
  if (q8 && (n_ff % (super256 ? 256 : 32) != 0 || reinterpret_cast<uintptr_t>(q8) % 16 != 0)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  const int64_t n = rows * n_ff;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
  detail::Q8InputView view{nullptr, nullptr};
  if (q8) view = detail::q8_input_view(q8, static_cast<size_t>(n));
  if (q8 && super256) {
    return detail::launch_chained(silu_mul_halves_super256_kernel, blocks, kThreads, 0, stream, gate_up, out, n, n_ff,
                                  view.qx, view.dsx);
  }
  return detail::launch_chained(silu_mul_halves_kernel, blocks, kThreads, 0, stream, gate_up, out, n, n_ff, view.qx,
                                view.dsx);
}

cudaError_t silu_mul(float* gate, const float* up, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
  return detail::launch_chained(silu_mul_kernel, blocks, kThreads, 0, stream, gate, up, n);
}

}  // namespace hearth::kernels::cuda
