#include "kernels/cuda/rope_kv_write.h"

#include "kernels/cuda/chained_launch.cuh"

#include <cuda_fp16.h>

namespace hearth::kernels::cuda {

namespace {

constexpr int kThreads = 128;

// Element indices (a, b) of rotation pair i and the rotated values; plain float arithmetic with
// no contraction into FMA, as the CPU kernel computes it.
struct Pair {
  int64_t a, b;
};
__device__ Pair pair_of(int64_t i, int64_t half, bool halves) {
  return halves ? Pair{i, i + half} : Pair{2 * i, 2 * i + 1};
}
__device__ float2 rotate(float x0, float x1, float c, float s) {
  return make_float2(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)), __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c)));
}

// One block per token.
__global__ void rope_kv_write_kernel(float* q, const float* k, const float* v, const float* cos_sin,
                                     const int32_t* positions, const int32_t* table_offsets,
                                     const int32_t* block_tables, __half* pool, RopeKvShape s) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t t = blockIdx.x;
  const int64_t hd = s.kv.head_dim, half = s.rope_dims / 2;
  const int64_t pos = positions[t];
  const float* cs = cos_sin + pos * half * 2;

  float* qt = q + t * s.n_head * hd;
  for (int64_t e = threadIdx.x; e < s.n_head * half; e += kThreads) {
    const int64_t h = e / half, i = e % half;
    const Pair p = pair_of(i, half, s.halves);
    float* x = qt + h * hd;
    const float2 r = rotate(x[p.a], x[p.b], cs[2 * i], cs[2 * i + 1]);
    x[p.a] = r.x;
    x[p.b] = r.y;
  }

  const int64_t block = block_tables[table_offsets[t] + pos / s.kv.block_tokens];
  const int64_t row = pos % s.kv.block_tokens;
  __half* base = pool + block * s.kv.block_elements();
  const float* kt = k + t * s.kv.n_kv_head * hd;
  const float* vt = v + t * s.kv.n_kv_head * hd;
  for (int64_t e = threadIdx.x; e < s.kv.n_kv_head * hd; e += kThreads) {
    const int64_t h = e / hd, d = e % hd;
    __half* k_row = base + s.kv.kv_offset(s.layer, 0, h) + row * hd;
    __half* v_row = base + s.kv.kv_offset(s.layer, 1, h) + row * hd;
    v_row[d] = __float2half_rn(vt[e]);
    if (d >= s.rope_dims) {
      k_row[d] = __float2half_rn(kt[e]);
    } else {
      // This thread owns element d; compute its side of the pair.
      const int64_t i = s.halves ? (d < half ? d : d - half) : d / 2;
      const Pair p = pair_of(i, half, s.halves);
      const float2 r = rotate(kt[h * hd + p.a], kt[h * hd + p.b], cs[2 * i], cs[2 * i + 1]);
      k_row[d] = __float2half_rn(d == p.a ? r.x : r.y);
    }
  }
}

}  // namespace

cudaError_t rope_kv_write(float* q, const float* k, const float* v, const float* rope_cos_sin,
                          const int32_t* positions, const int32_t* table_offsets, const int32_t* block_tables,
                          void* kv_pool, const RopeKvShape& shape, cudaStream_t stream) {
  const auto& s = shape;
  if (s.n_tokens < 0 || s.n_tokens > 0x7fffffff || s.n_head <= 0 || s.kv.n_kv_head <= 0 || s.kv.head_dim <= 0 ||
      s.rope_dims < 0 || s.rope_dims % 2 != 0 || s.rope_dims > s.kv.head_dim || s.kv.block_tokens <= 0 ||
      s.layer < 0 || s.layer >= s.kv.n_layer) {
    return cudaErrorInvalidValue;
  }
  if (s.n_tokens == 0) return cudaSuccess;
  return detail::launch_chained(rope_kv_write_kernel, static_cast<unsigned>(s.n_tokens), kThreads, 0, stream, q, k, v,
                                rope_cos_sin, positions, table_offsets, block_tables, static_cast<__half*>(kv_pool), s);
}

}  // namespace hearth::kernels::cuda
