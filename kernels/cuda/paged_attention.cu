#include "kernels/cuda/paged_attention.h"

#include "kernels/cuda/chained_launch.cuh"
#include "kernels/cuda/q8_activation_block.cuh"

#include <cuda_fp16.h>

#include <cmath>

namespace hearth::kernels::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 64;  // positions scored per step of the online softmax
constexpr size_t kMaxSharedBytes = 48 * 1024;

// Shared memory of one block: q [G][hd], acc [G][hd], scores [G][kTile], m/l/correction [G],
// K/V row offsets [kTile].
size_t shared_bytes(int64_t group, int64_t hd) {
  // (+1 float for odd groups keeps the int64 offsets 8-byte aligned)
  return sizeof(float) * static_cast<size_t>(2 * group * hd + group * kTile + 3 * group + group % 2) +
         sizeof(int64_t) * kTile;
}

// The output also in quant_matmul.h's q8 input form, for the attention-output product (qx null: not
// wanted). Written by the kernel that writes `out`: paged_attention_kernel when there is one
// split, combine_splits_kernel otherwise. Their output loops give each warp 32 consecutive
// elements of one head per step, one whole 32-element block when head_dim % 32 == 0 (checked by
// the launcher).
struct AttentionQ8 {
  int8_t* qx = nullptr;
  float2* dsx = nullptr;
};

__device__ __forceinline__ void store_out(float* out, int64_t index, float v, const AttentionQ8& q8) {
  out[index] = v;
  if (q8.qx) detail::quantize_block_warp(v, q8.qx + (index & ~int64_t{31}), q8.dsx + index / 32);
}

// grid: (n_splits, n_kv_head, n_tokens)
__global__ void paged_attention_kernel(const float* q, const __half* pool, const int32_t* positions,
                                       const int32_t* table_offsets, const int32_t* block_tables, float* out,
                                       float* partial, PagedAttentionShape s, AttentionQ8 q8) {
  extern __shared__ float smem[];
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t hd = s.kv.head_dim;
  const int64_t group = s.n_head / s.kv.n_kv_head;
  float* q_s = smem;                       // [G][hd]
  float* acc_s = q_s + group * hd;         // [G][hd]
  float* score_s = acc_s + group * hd;     // [G][kTile]
  float* m_s = score_s + group * kTile;    // [G]
  float* l_s = m_s + group;                // [G]
  float* corr_s = l_s + group;             // [G]
  int64_t* row_s = reinterpret_cast<int64_t*>(corr_s + group + (group % 2));  // [kTile], 8-byte aligned

  const int split = blockIdx.x;
  const int64_t kvh = blockIdx.y, t = blockIdx.z;
  const int64_t len = int64_t{positions[t]} + 1;
  const int64_t span = (len + s.n_splits - 1) / s.n_splits;
  const int64_t begin = split * span;
  const int64_t end = begin + span < len ? begin + span : len;
  const int64_t first_head = kvh * group;

  const float* qt = q + (t * s.n_head + first_head) * hd;
  for (int64_t e = threadIdx.x; e < group * hd; e += kThreads) {
    q_s[e] = qt[e];
    acc_s[e] = 0.0f;
  }
  for (int64_t g = threadIdx.x; g < group; g += kThreads) {
    m_s[g] = -INFINITY;
    l_s[g] = 0.0f;
  }
  const int32_t* table = block_tables + table_offsets[t];
  const int64_t k_offset = s.kv.kv_offset(s.layer, 0, kvh);
  const int64_t v_minus_k = s.kv.kv_offset(s.layer, 1, kvh) - k_offset;
  __syncthreads();

  for (int64_t tile = begin; tile < end; tile += kTile) {
    const int64_t n = end - tile < kTile ? end - tile : kTile;
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
      const int64_t pos = tile + j;
      const int64_t block = table[pos / s.kv.block_tokens];
      row_s[j] = block * s.kv.block_elements() + k_offset + (pos % s.kv.block_tokens) * hd;
    }
    __syncthreads();
    // Scores: consecutive threads take the G heads of one position, so a K row is read once
    // from memory and then from L1 for the rest of its group.
    for (int64_t e = threadIdx.x; e < n * group; e += kThreads) {
      const int64_t j = e / group, g = e % group;
      const __half* k_row = pool + row_s[j];
      const float* qg = q_s + g * hd;
      float dot = 0.0f;
      for (int64_t d = 0; d < hd; ++d) dot += qg[d] * __half2float(k_row[d]);
      score_s[g * kTile + j] = dot * s.scale;
    }
    __syncthreads();
    // Online softmax, one warp per head of the group.
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int64_t g = warp; g < group; g += kWarps) {
      float* sg = score_s + g * kTile;
      float tile_max = -INFINITY;
      for (int64_t j = lane; j < n; j += 32) tile_max = fmaxf(tile_max, sg[j]);
      for (int o = 16; o > 0; o >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
      const float m_old = m_s[g];
      const float m_new = fmaxf(m_old, tile_max);
      float sum = 0.0f;
      for (int64_t j = lane; j < n; j += 32) {
        const float p = expf(sg[j] - m_new);
        sg[j] = p;
        sum += p;
      }
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      if (lane == 0) {
        const float corr = expf(m_old - m_new);  // exp(-inf) = 0 on the first tile
        corr_s[g] = corr;
        m_s[g] = m_new;
        l_s[g] = l_s[g] * corr + sum;
      }
    }
    __syncthreads();
    // Weighted V: consecutive threads take consecutive elements of a V row (coalesced).
    for (int64_t e = threadIdx.x; e < group * hd; e += kThreads) {
      const int64_t g = e / hd, d = e % hd;
      const float* pg = score_s + g * kTile;
      float a = acc_s[e] * corr_s[g];
      for (int64_t j = 0; j < n; ++j) a += pg[j] * __half2float(pool[row_s[j] + v_minus_k + d]);
      acc_s[e] = a;
    }
    __syncthreads();
  }

  if (s.n_splits == 1) {
    const int64_t o = (t * s.n_head + first_head) * hd;
    for (int64_t e = threadIdx.x; e < group * hd; e += kThreads) store_out(out, o + e, acc_s[e] / l_s[e / hd], q8);
    return;
  }
  // Partials: per (token, head, split): hd accumulators, then m and l.
  const int64_t stride = hd + 2;
  for (int64_t e = threadIdx.x; e < group * hd; e += kThreads) {
    const int64_t g = e / hd, d = e % hd;
    partial[((t * s.n_head + first_head + g) * s.n_splits + split) * stride + d] = acc_s[e];
  }
  for (int64_t g = threadIdx.x; g < group; g += kThreads) {
    float* p = partial + ((t * s.n_head + first_head + g) * s.n_splits + split) * stride + hd;
    p[0] = m_s[g];  // -inf and l = 0 for an empty range
    p[1] = l_s[g];
  }
}

// grid: (n_head, n_tokens)
__global__ void combine_splits_kernel(const float* partial, float* out, PagedAttentionShape s, AttentionQ8 q8) {
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t h = blockIdx.x, t = blockIdx.y, hd = s.kv.head_dim, stride = hd + 2;
  const float* p = partial + (t * s.n_head + h) * s.n_splits * stride;
  float m = -INFINITY;
  for (int i = 0; i < s.n_splits; ++i) m = fmaxf(m, p[i * stride + hd]);
  float l = 0.0f;
  for (int i = 0; i < s.n_splits; ++i) {
    const float li = p[i * stride + hd + 1];
    if (li > 0.0f) l += expf(p[i * stride + hd] - m) * li;
  }
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int i = 0; i < s.n_splits; ++i) {
      if (p[i * stride + hd + 1] > 0.0f) a += expf(p[i * stride + hd] - m) * p[i * stride + d];
    }
    store_out(out, (t * s.n_head + h) * hd + d, a / l, q8);
  }
}

bool valid(const PagedAttentionShape& s) {
  return s.n_tokens >= 0 && s.n_tokens <= 65535 && s.kv.n_kv_head > 0 && s.kv.n_kv_head <= 65535 && s.n_head > 0 &&
         s.n_head % s.kv.n_kv_head == 0 && s.kv.head_dim > 0 && s.kv.block_tokens > 0 && s.layer >= 0 &&
         s.layer < s.kv.n_layer && s.n_splits >= 1 && s.n_splits <= 1024 &&
         shared_bytes(s.n_head / s.kv.n_kv_head, s.kv.head_dim) <= kMaxSharedBytes;
}

}  // namespace

size_t paged_attention_workspace_bytes(const PagedAttentionShape& s) {
  if (s.n_splits <= 1 || s.n_tokens <= 0) return 0;
  return sizeof(float) * static_cast<size_t>(s.n_tokens * s.n_head * s.n_splits * (s.kv.head_dim + 2));
}

cudaError_t paged_attention(const float* q, const void* kv_pool, const int32_t* positions,
                            const int32_t* table_offsets, const int32_t* block_tables, float* out,
                            void* workspace, const PagedAttentionShape& shape, cudaStream_t stream) {
  return paged_attention_q8(q, kv_pool, positions, table_offsets, block_tables, out, workspace, shape, nullptr,
                            stream);
}

cudaError_t paged_attention_q8(const float* q, const void* kv_pool, const int32_t* positions,
                               const int32_t* table_offsets, const int32_t* block_tables, float* out,
                               void* workspace, const PagedAttentionShape& shape, void* q8, cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  if (q8 && (shape.kv.head_dim % 32 != 0 || reinterpret_cast<uintptr_t>(q8) % 16 != 0)) return cudaErrorInvalidValue;
  AttentionQ8 q8_out;
  if (q8) {
    const auto view = detail::q8_input_view(q8, static_cast<size_t>(shape.n_tokens * shape.n_head * shape.kv.head_dim));
    q8_out = {view.qx, view.dsx};
  }
  if (shape.n_tokens == 0) return cudaSuccess;
  if (shape.n_splits > 1 && workspace == nullptr) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(shape.n_splits), static_cast<unsigned>(shape.kv.n_kv_head),
                  static_cast<unsigned>(shape.n_tokens));
  const size_t smem = shared_bytes(shape.n_head / shape.kv.n_kv_head, shape.kv.head_dim);
  cudaError_t err = detail::launch_chained(paged_attention_kernel, grid, kThreads, smem, stream, q,
                                           static_cast<const __half*>(kv_pool), positions, table_offsets,
                                           block_tables, out, static_cast<float*>(workspace), shape,
                                           shape.n_splits == 1 ? q8_out : AttentionQ8{});
  if (err != cudaSuccess || shape.n_splits == 1) return err;
  const dim3 combine_grid(static_cast<unsigned>(shape.n_head), static_cast<unsigned>(shape.n_tokens));
  return detail::launch_chained(combine_splits_kernel, combine_grid, 64, 0, stream,
                                static_cast<const float*>(workspace), out, shape, q8_out);
}

}  // namespace hearth::kernels::cuda
