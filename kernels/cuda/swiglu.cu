#include "kernels/cuda/swiglu.h"

#include <algorithm>

namespace hearth::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void silu_mul_kernel(float* gate, const float* up, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n; i += int64_t{gridDim.x} * kThreads) {
    const float a = gate[i];
    // expf (not __expf): full precision, as the CPU reference.
    gate[i] = __fmul_rn(__fdiv_rn(a, __fadd_rn(1.0f, expf(-a))), up[i]);
  }
}

__global__ void silu_mul_halves_kernel(const float* gate_up, float* out, int64_t total, int64_t n_ff) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    const int64_t r = i / n_ff, c = i % n_ff;
    const float a = gate_up[r * 2 * n_ff + c];
    out[i] = __fmul_rn(__fdiv_rn(a, __fadd_rn(1.0f, expf(-a))), gate_up[r * 2 * n_ff + n_ff + c]);
  }
}

}  // namespace

cudaError_t silu_mul_halves(const float* gate_up, float* out, int64_t rows, int64_t n_ff, cudaStream_t stream) {
  if (rows < 0 || n_ff <= 0 || rows > (int64_t{1} << 40) / n_ff) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  const int64_t n = rows * n_ff;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
  silu_mul_halves_kernel<<<blocks, kThreads, 0, stream>>>(gate_up, out, n, n_ff);
  return cudaGetLastError();
}

cudaError_t silu_mul(float* gate, const float* up, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
  silu_mul_kernel<<<blocks, kThreads, 0, stream>>>(gate, up, n);
  return cudaGetLastError();
}

}  // namespace hearth::kernels::cuda
