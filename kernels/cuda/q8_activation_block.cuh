#pragma once
// The int8 activation form read by the quantized matvec kernels (quant_matmul.h, q8_input_bytes):
// per 32 values (q8_form.h kBlock32) or per 256 (kSuper256), the CPU path's integers. Shared by
// quantize_activations and by the kernels that produce activations and quantize them in the same
// pass (rms_norm_q8, silu_mul_halves_q8, paged_attention_q8), so every producer writes exactly
// the same bytes.
#include <cuda_runtime.h>

#include <cuda_fp16.h>

#include <cstdint>

namespace hearth::kernels::cuda::detail {

// CPU-exact rounding helper (kernels/cpu/activation_quant.cpp to_int8): a rounded value clamped
// to [-127, 127]; NaN becomes -127.
__device__ __forceinline__ int q8_clamp(float rounded) {
  if (!(rounded >= -127.0f)) return -127;
  return static_cast<int>(rounded < 127.0f ? rounded : 127.0f);
}

// Q8Form::kBlock32 (q8_form.h): all 32 lanes of the warp call this together; lane i holds element
// i of the 32-element block. Writes qx_block[lane] and, from lane 0, *ds = (d rounded to fp16,
// int sum of the 32 q as bits) with d = max |v| / 127, q = round half away (v * (1 / d)): the
// bytes of the CPU's Q8_0 activation quantization.
__device__ __forceinline__ void quantize_block_warp(float v, int8_t* __restrict__ qx_block, float2* __restrict__ ds) {
  const int lane = threadIdx.x & 31;
  float amax = fabsf(v);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, off));
  const float d = __fdiv_rn(amax, 127.0f);
  const float inv = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
  const int q = q8_clamp(roundf(__fmul_rn(v, inv)));
  int sum = q;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
  qx_block[lane] = static_cast<int8_t>(q);
  if (lane == 0) *ds = make_float2(__half2float(__float2half_rn(d)), __int_as_float(sum));
}

// Q8Form::kSuper256: all 32 lanes call this together; lane l holds elements 8 l .. 8 l + 7 of a
// 256-element super-block in v. Writes qx256[0..256) and ds8[0..8) (per 32 elements: (d, int sum
// of the 32 q as bits)): the CPU's Q8_K quantization (value of largest magnitude, first on ties,
// s = -127 / v, q = min(127, round half even (s x)), d = 1 / s; an all-zero block gives zeros).
__device__ __forceinline__ void quantize_superblock_warp(const float (&v)[8], int8_t* __restrict__ qx256,
                                                         float2* __restrict__ ds8) {
  const int lane = threadIdx.x & 31;
  // key = |v| bits, then (255 - index) so that the first of equal magnitudes wins, then the sign
  unsigned long long key = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float a = fabsf(v[i]);
    if (a > 0.0f) {  // skips zeros and NaN, as the CPU's strict > comparison
      const unsigned long long k = (static_cast<unsigned long long>(__float_as_uint(a)) << 32) |
                                   (static_cast<unsigned>(255 - (8 * lane + i)) << 1) | (__float_as_uint(v[i]) >> 31);
      key = k > key ? k : key;
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const unsigned long long o = __shfl_xor_sync(0xFFFFFFFFu, key, off);
    key = o > key ? o : key;
  }
  int q[8];
  float d = 0.0f;
  if (key == 0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = 0;
  } else {
    const float amax = __uint_as_float(static_cast<uint32_t>(key >> 32));
    const float vmax = (key & 1) ? -amax : amax;
    const float iscale = __fdiv_rn(-127.0f, vmax);
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = q8_clamp(rintf(__fmul_rn(iscale, v[i])));
    d = __fdiv_rn(1.0f, iscale);
  }
  uint32_t lo = 0, hi = 0;
  int sum = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    lo |= (static_cast<uint32_t>(q[i]) & 0xFFu) << (8 * i);
    hi |= (static_cast<uint32_t>(q[i + 4]) & 0xFFu) << (8 * i);
    sum += q[i] + q[i + 4];
  }
  *reinterpret_cast<uint2*>(qx256 + 8 * lane) = make_uint2(lo, hi);
  sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 1);
  sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 2);
  if ((lane & 3) == 0) ds8[lane >> 2] = make_float2(d, __int_as_float(sum));
}

// The warps of a thread block quantize n floats at src (n % 256 == 0; written by this block
// before a __syncthreads, or by an earlier kernel) in the kSuper256 form: super-block sb goes to
// qx + 256 sb and dsx + 8 sb.
__device__ __forceinline__ void quantize_range_super256_block(const float* src, int64_t n, int8_t* __restrict__ qx,
                                                              float2* __restrict__ dsx) {
  const int lane = threadIdx.x & 31;
  for (int64_t sb = threadIdx.x >> 5; sb < n / 256; sb += blockDim.x >> 5) {
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = src[sb * 256 + 8 * lane + i];
    quantize_superblock_warp(v, qx + sb * 256, dsx + sb * 8);
  }
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
