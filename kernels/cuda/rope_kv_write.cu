#include "kernels/cuda/rope_kv_write.h"

#include "kernels/cuda/chained_launch.cuh"

#include <cuda_fp16.h>

namespace hearth::kernels::cuda {

namespace {

// Element indices (a, b) of rotation pair i and the rotated values; plain float arithmetic with
// no contraction into FMA, as the CPU kernel computes it.
struct Pair {
  int64_t a, b;
};
__device__ Pair pair_of(int i, int half, bool halves) {
  return halves ? Pair{i, i + half} : Pair{2 * i, 2 * i + 1};
}
__device__ float2 rotate(float x0, float x1, float c, float s) {
  return make_float2(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)), __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c)));
}

// grid (n_tokens, n_head + n_kv_head), blockDim = head_dim rounded up to whole warps: block
// (t, h) rotates query head h of token t (h < n_head: thread i owns rotation pair i), or writes
// K/V head h - n_head of token t to the pool (thread d owns element d). One element or pair per
// thread and 32-bit index arithmetic: the work of a token is spread over many SMs and each thread
// waits for one memory latency, not one per element.
__global__ void rope_kv_write_kernel(float* q, const float* k, const float* v, const float* cos_sin,
                                     const int32_t* positions, const int32_t* table_offsets,
                                     const int32_t* block_tables, __half* pool, RopeKvShape s) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t t = blockIdx.x;
  const int hd = static_cast<int>(s.kv.head_dim), half = static_cast<int>(s.rope_dims / 2);
  const int n_head = static_cast<int>(s.n_head);
  const int64_t pos = positions[t];
  const float* cs = cos_sin + pos * half * 2;
  const int head = blockIdx.y;
  const int e = threadIdx.x;

  if (head < n_head) {
    if (e >= half) return;
    const Pair p = pair_of(e, half, s.halves);
    float* x = q + (t * n_head + head) * hd;
    const float2 r = rotate(x[p.a], x[p.b], cs[2 * e], cs[2 * e + 1]);
    x[p.a] = r.x;
    x[p.b] = r.y;
    return;
  }
  if (e >= hd) return;
  const int h = head - n_head;
  const int64_t block = block_tables[table_offsets[t] + pos / s.kv.block_tokens];
  const int64_t row = pos % s.kv.block_tokens;
  __half* base = pool + block * s.kv.block_elements();
  const float* kt = k + (t * s.kv.n_kv_head + h) * hd;
  const float* vt = v + (t * s.kv.n_kv_head + h) * hd;
  __half* k_row = base + s.kv.kv_offset(s.layer, 0, h) + row * hd;
  __half* v_row = base + s.kv.kv_offset(s.layer, 1, h) + row * hd;
  v_row[e] = __float2half_rn(vt[e]);
  if (e >= s.rope_dims) {
    k_row[e] = __float2half_rn(kt[e]);
  } else {
    // This thread owns element e; compute its side of the pair.
    const int i = s.halves ? (e < half ? e : e - half) : e / 2;
    const Pair p = pair_of(i, half, s.halves);
    const float2 r = rotate(kt[p.a], kt[p.b], cs[2 * i], cs[2 * i + 1]);
    k_row[e] = __float2half_rn(e == p.a ? r.x : r.y);
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
  if (s.kv.head_dim > 1024 || s.n_head + s.kv.n_kv_head > 65535) return cudaErrorInvalidValue;
  if (s.n_tokens == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(s.n_tokens), static_cast<unsigned>(s.n_head + s.kv.n_kv_head));
  const auto threads = static_cast<unsigned>((s.kv.head_dim + 31) / 32 * 32);
  return detail::launch_chained(rope_kv_write_kernel, grid, threads, 0, stream, q, k, v,
                                rope_cos_sin, positions, table_offsets, block_tables, static_cast<__half*>(kv_pool), s);
}

}  // namespace hearth::kernels::cuda
