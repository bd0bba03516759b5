// quantize_activations (quant_matvec_launch.h): float activations -> int8 per 32 columns.
#include <cuda_runtime.h>

#include "kernels/cuda/quant_matvec_launch.h"
#include "kernels/cuda/quant_matvec_q8.cuh"

namespace hearth::kernels::cuda::detail {
namespace {
size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// One warp per 32 consecutive values.
__global__ void quantize_activations_kernel(const float* __restrict__ x, int64_t n_blocks, int8_t* __restrict__ qx,
                                            float2* __restrict__ dsx) {
  allow_dependent_launch();  // the matvec may start loading weights while this runs
  const int lane = threadIdx.x & 31;
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (blk >= n_blocks) return;
  const float v = x[blk * 32 + lane];
  float amax = fabsf(v);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, off));
  const float d = amax / 127.0f;
  const int q = d > 0.0f ? __float2int_rn(v / d) : 0;  // d underflows to 0 for tiny amax
  int sum = q;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
  qx[blk * 32 + lane] = static_cast<int8_t>(q);
  if (lane == 0) dsx[blk] = make_float2(d, d * static_cast<float>(sum));
}
}  // namespace

size_t q8_activation_bytes(int64_t m, int64_t cols) {
  const auto n = static_cast<size_t>(m) * static_cast<size_t>(cols);
  return align256(n) + align256(n / 32 * sizeof(float2));
}

cudaError_t quantize_activations(const float* x, int64_t m, int64_t cols, void* workspace, Q8Activations* out,
                                 cudaStream_t stream) {
  const auto n = static_cast<size_t>(m) * static_cast<size_t>(cols);
  auto* qx = static_cast<int8_t*>(workspace);
  auto* dsx = reinterpret_cast<float2*>(static_cast<uint8_t*>(workspace) + align256(n));
  const auto n_blocks = static_cast<int64_t>(n / 32);
  constexpr int kWarps = 8;
  const auto grid = static_cast<unsigned>((n_blocks + kWarps - 1) / kWarps);
  quantize_activations_kernel<<<grid, 32 * kWarps, 0, stream>>>(x, n_blocks, qx, dsx);
  *out = {qx, dsx};
  return cudaGetLastError();
}

}  // namespace hearth::kernels::cuda::detail
