#pragma once
// The int8 activation form read by the quantized matvec kernels (quant_matmul.h, q8_input_bytes):
// one warp quantizes 32 consecutive activations. Shared by quantize_activations and by the
// kernels that produce activations and quantize them in the same pass (rms_norm_q8,
// silu_mul_halves_q8), so every producer writes exactly the same bytes.
#include <cuda_runtime.h>

#include <cstdint>

namespace hearth::kernels::cuda::detail {

// All 32 lanes of the warp call this together; lane i holds element i of the 32-element block.
// Writes qx_block[lane] = round(v / d) and, from lane 0, *ds = (d, d * sum of the 32 q) with
// d = max |v| / 127 (0 for an all-zero block, or when d underflows).
__device__ __forceinline__ void quantize_block_warp(float v, int8_t* __restrict__ qx_block, float2* __restrict__ ds) {
  const int lane = threadIdx.x & 31;
  float amax = fabsf(v);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, off));
  const float d = amax / 127.0f;
  const int q = d > 0.0f ? __float2int_rn(v / d) : 0;
  int sum = q;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
  qx_block[lane] = static_cast<int8_t>(q);
  if (lane == 0) *ds = make_float2(d, d * static_cast<float>(sum));
}

// Where block `blk` (of 32 elements, counted over the flattened [m, cols] activations) lives in
// a q8 input of m * cols elements starting at `base`.
struct Q8InputView {
  int8_t* qx;
  float2* dsx;
};
inline __host__ __device__ size_t q8_align256(size_t n) { return (n + 255) / 256 * 256; }
inline __host__ __device__ Q8InputView q8_input_view(void* base, size_t elements) {
  auto* bytes = static_cast<uint8_t*>(base);
  return {reinterpret_cast<int8_t*>(bytes), reinterpret_cast<float2*>(bytes + q8_align256(elements))};
}

}  // namespace hearth::kernels::cuda::detail
