// quantize_activations (quant_matvec_launch.h): float activations -> the int8 forms of q8_form.h.
#include <cuda_runtime.h>

#include "kernels/cuda/chained_launch.cuh"
#include "kernels/cuda/q8_activation_block.cuh"
#include "kernels/cuda/quant_matvec_launch.h"

namespace hearth::kernels::cuda::detail {
namespace {
// kBlock32: one warp per 32 consecutive values.
__global__ void quantize_activations_kernel(const float* __restrict__ x, int64_t n_blocks, int8_t* __restrict__ qx,
                                            float2* __restrict__ dsx) {
  begin_chained_kernel();  // lets the matvec start loading weights while this runs
  const int lane = threadIdx.x & 31;
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (blk >= n_blocks) return;
  quantize_block_warp(x[blk * 32 + lane], qx + blk * 32, dsx + blk);
}

// kSuper256: one warp per 256 consecutive values (lane l: 8 l .. 8 l + 7).
__global__ void quantize_activations_super256_kernel(const float* __restrict__ x, int64_t n_super,
                                                     int8_t* __restrict__ qx, float2* __restrict__ dsx) {
  begin_chained_kernel();
  const int lane = threadIdx.x & 31;
  const int64_t sb = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (sb >= n_super) return;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = x[sb * 256 + 8 * lane + i];
  quantize_superblock_warp(v, qx + sb * 256, dsx + sb * 8);
}
}  // namespace

size_t q8_activation_bytes(int64_t m, int64_t cols) {
  const auto n = static_cast<size_t>(m) * static_cast<size_t>(cols);
  return q8_align256(n) + q8_align256(n / 32 * sizeof(float2));
}

cudaError_t quantize_activations(const float* x, int64_t m, int64_t cols, Q8Form form, void* workspace,
                                 Q8Activations* out, cudaStream_t stream) {
  const auto n = static_cast<size_t>(m) * static_cast<size_t>(cols);
  const Q8InputView view = q8_input_view(workspace, n);
  int8_t* qx = view.qx;
  float2* dsx = view.dsx;
  *out = {qx, dsx};
  constexpr int kWarps = 8;
  if (form == Q8Form::kSuper256) {
    if (cols % 256 != 0) return cudaErrorInvalidValue;
    const auto n_super = static_cast<int64_t>(n / 256);
    const auto grid = static_cast<unsigned>((n_super + kWarps - 1) / kWarps);
    return launch_chained(quantize_activations_super256_kernel, grid, 32 * kWarps, 0, stream, x, n_super, qx, dsx);
  }
  const auto n_blocks = static_cast<int64_t>(n / 32);
  const auto grid = static_cast<unsigned>((n_blocks + kWarps - 1) / kWarps);
  return launch_chained(quantize_activations_kernel, grid, 32 * kWarps, 0, stream, x, n_blocks, qx, dsx);
}

}  // namespace hearth::kernels::cuda::detail
