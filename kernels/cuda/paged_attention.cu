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

// One step of the online softmax over a tile of n scores, one warp per head g of the group:
// score_s[g * kTile + j] becomes exp(score - new max); m_s/l_s (running max and sum) are updated and
// corr_s[g] gets the factor the head's accumulated output must be scaled by.
__device__ __forceinline__ void online_softmax_tile(float* score_s, float* m_s, float* l_s, float* corr_s,
                                                    int group, int n, int warp, int lane) {
  for (int g = warp; g < group; g += kWarps) {
    float* sg = score_s + g * kTile;
    float tile_max = -INFINITY;
    for (int j = lane; j < n; j += 32) tile_max = fmaxf(tile_max, sg[j]);
    for (int o = 16; o > 0; o >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
    const float m_old = m_s[g];
    const float m_new = fmaxf(m_old, tile_max);
    float sum = 0.0f;
    for (int j = lane; j < n; j += 32) {
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
}

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
  const int64_t span = s.split_positions > 0 ? s.split_positions : (len + s.n_splits - 1) / s.n_splits;
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
    online_softmax_tile(score_s, m_s, l_s, corr_s, static_cast<int>(group), static_cast<int>(n), threadIdx.x / 32,
                        threadIdx.x % 32);
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

// The decode form (split_positions > 0, head_dim 64 or 128, GQA group <= kDecodeMaxGroup): the
// same grid and partial results as paged_attention_kernel, with the work spread for few tokens:
//  - scores: warp w takes positions w, w + 4, ...; lane l holds K elements l, l + 32, ... of the
//    row (coalesced, each K row read once for the whole group) and the G dot products are
//    finished by warp shuffles;
//  - weighted V: thread (part, d) owns element d of the output of every head of the group for the
//    positions part, part + kParts, ... (kParts = 128 / head_dim), accumulating in registers
//    across tiles; the parts are summed once at the end, in a fixed order.
constexpr int kDecodeMaxGroup = 8;
constexpr int kMaxMergedSplits = 128;  // up to this many splits, the decode kernel merges them itself
constexpr int64_t kMergeMaxTokens = 64;  // and up to this many tokens (the counters' capacity)

// Workspace layout with split_positions > 0: [merge counters: kMergeMaxTokens x n_kv_head int,
// padded to 256 bytes][partials]. The counters' place depends only on n_kv_head, so one
// workspace serves launches of any token and split count without disturbing them.
size_t counter_bytes(const PagedAttentionShape& s) {
  return detail::q8_align256(sizeof(int) * static_cast<size_t>(kMergeMaxTokens * s.kv.n_kv_head));
}
size_t partial_bytes(const PagedAttentionShape& s) {
  return sizeof(float) * static_cast<size_t>(s.n_tokens * s.n_head * s.n_splits * (s.kv.head_dim + 2));
}

template <int kHd, int kG>  // kG: the GQA group rounded up to 4 or 8
__global__ void __launch_bounds__(kThreads)
    paged_decode_kernel(const float* q, const __half* pool, const int32_t* positions, const int32_t* table_offsets,
                        const int32_t* block_tables, float* out, float* partial, int* counters,
                        PagedAttentionShape s, AttentionQ8 q8) {
  constexpr int kParts = kThreads / kHd;
  constexpr int kPerLane = kHd / 32;
  __shared__ float q_s[kG * kHd];
  __shared__ float score_s[kG * kTile];
  __shared__ float red_s[kParts * kG * kHd];
  __shared__ float m_s[kG], l_s[kG], corr_s[kG];
  __shared__ int64_t row_s[kTile];
  __shared__ float weight_s[kG][kMaxMergedSplits];
  __shared__ int is_last_s;
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int group = static_cast<int>(s.n_head / s.kv.n_kv_head);
  const int split = blockIdx.x;
  const int64_t kvh = blockIdx.y, t = blockIdx.z;
  const int64_t len = int64_t{positions[t]} + 1;
  const int64_t begin = split * s.split_positions;
  const int64_t end = begin + s.split_positions < len ? begin + s.split_positions : len;
  if (begin >= len) return;  // an empty split: nothing reads its partials (merges stop at the token's end)
  const int64_t first_head = kvh * group;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int d = threadIdx.x % kHd, part = threadIdx.x / kHd;

  const float* qt = q + (t * s.n_head + first_head) * kHd;
  for (int e = threadIdx.x; e < group * kHd; e += kThreads) q_s[e] = qt[e];
  if (threadIdx.x < group) {
    m_s[threadIdx.x] = -INFINITY;
    l_s[threadIdx.x] = 0.0f;
  }
  const int32_t* table = block_tables + table_offsets[t];
  const int64_t k_offset = s.kv.kv_offset(s.layer, 0, kvh);
  const int64_t v_minus_k = s.kv.kv_offset(s.layer, 1, kvh) - k_offset;
  float acc[kG];
#pragma unroll
  for (int g = 0; g < kG; ++g) acc[g] = 0.0f;
  __syncthreads();

  for (int64_t tile = begin; tile < end; tile += kTile) {
    const int n = static_cast<int>(end - tile < kTile ? end - tile : kTile);
    if (threadIdx.x < n) {
      const int64_t pos = tile + threadIdx.x;
      const int64_t block = table[pos / s.kv.block_tokens];
      row_s[threadIdx.x] = block * s.kv.block_elements() + k_offset + (pos % s.kv.block_tokens) * kHd;
    }
    __syncthreads();
#pragma unroll 2
    for (int j = warp; j < n; j += kWarps) {
      const __half* k_row = pool + row_s[j];
      float k_el[kPerLane];
#pragma unroll
      for (int c = 0; c < kPerLane; ++c) k_el[c] = __half2float(k_row[lane + 32 * c]);
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        if (g < group) {
          float dot = 0.0f;
#pragma unroll
          for (int c = 0; c < kPerLane; ++c) dot += q_s[g * kHd + lane + 32 * c] * k_el[c];
#pragma unroll
          for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
          if (lane == 0) score_s[g * kTile + j] = dot * s.scale;
        }
      }
    }
    __syncthreads();
    online_softmax_tile(score_s, m_s, l_s, corr_s, group, n, warp, lane);
    __syncthreads();
#pragma unroll
    for (int g = 0; g < kG; ++g) acc[g] *= g < group ? corr_s[g] : 0.0f;
#pragma unroll 4
    for (int j = part; j < n; j += kParts) {
      const float v = __half2float(pool[row_s[j] + v_minus_k + d]);
#pragma unroll
      for (int g = 0; g < kG; ++g) acc[g] += score_s[g * kTile + j] * v;
    }
    __syncthreads();  // row_s and score_s are rewritten by the next tile
  }

#pragma unroll
  for (int g = 0; g < kG; ++g) {
    if (g < group) red_s[(part * kG + g) * kHd + d] = acc[g];
  }
  __syncthreads();
  // A token whose positions all lie in split 0 is finished here when this kernel merges (counters
  // set): no partials, no merge. Whether that happens depends only on the token's length.
  const bool whole = s.n_splits == 1 || (counters != nullptr && len <= s.split_positions);  // (then split == 0)
  // Output loops give each warp 32 consecutive elements of one head (q8 blocks, see store_out).
  for (int e = threadIdx.x; e < group * kHd; e += kThreads) {
    const int g = e / kHd, dd = e % kHd;
    float a = 0.0f;
#pragma unroll
    for (int p = 0; p < kParts; ++p) a += red_s[(p * kG + g) * kHd + dd];
    if (whole) {
      store_out(out, (t * s.n_head + first_head) * kHd + e, a / l_s[g], q8);
    } else {
      partial[((t * s.n_head + first_head + g) * s.n_splits + split) * (kHd + 2) + dd] = a;
    }
  }
  if (whole) return;
  if (threadIdx.x < group) {
    float* p = partial + ((t * s.n_head + first_head + threadIdx.x) * s.n_splits + split) * (kHd + 2) + kHd;
    p[0] = m_s[threadIdx.x];  // -inf and l = 0 for an empty range
    p[1] = l_s[threadIdx.x];
  }
  if (counters == nullptr || begin >= len) return;

  // The merge (counters set): the last of the token's non-empty splits to finish merges them all,
  // so the merge needs no launch of its own. Every block makes its partials visible, then counts
  // itself in; the last resets the counter for the next launch. The merge reads the splits in
  // index order whichever block does it: the result does not depend on the finishing order.
  const int stride = kHd + 2;
  const int64_t used64 = (len + s.split_positions - 1) / s.split_positions;
  const int used = static_cast<int>(used64 < s.n_splits ? used64 : s.n_splits);
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = counters + t * s.kv.n_kv_head + kvh;
    const bool last = atomicAdd(counter, 1) == used - 1;
    if (last) *counter = 0;
    is_last_s = last;
  }
  __syncthreads();
  if (!is_last_s) return;
  __threadfence();
  // Split weights exp(m_i - m) per head (warp g), and l = sum of weight_i l_i in split order.
  for (int g = warp; g < group; g += kWarps) {
    const float* pg = partial + (t * s.n_head + first_head + g) * s.n_splits * stride;
    float m = -INFINITY;
    for (int i = lane; i < used; i += 32) m = fmaxf(m, __ldcg(pg + i * stride + kHd));
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    for (int i = lane; i < used; i += 32) {
      weight_s[g][i] = __ldcg(pg + i * stride + kHd + 1) > 0.0f ? expf(__ldcg(pg + i * stride + kHd) - m) : 0.0f;
    }
    __syncwarp();
    if (lane == 0) {
      float l = 0.0f;
      for (int i = 0; i < used; ++i) l += weight_s[g][i] * __ldcg(pg + i * stride + kHd + 1);
      l_s[g] = l;
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < group * kHd; e += kThreads) {
    const int g = e / kHd, dd = e % kHd;
    const float* pg = partial + (t * s.n_head + first_head + g) * s.n_splits * stride + dd;
    float a = 0.0f;
    for (int i = 0; i < used; ++i) {
      if (weight_s[g][i] > 0.0f) a += weight_s[g][i] * __ldcg(pg + i * stride);
    }
    store_out(out, (t * s.n_head + first_head) * kHd + e, a / l_s[g], q8);
  }
}

bool takes_decode_kernel(const PagedAttentionShape& s) {
  const int64_t group = s.n_head / s.kv.n_kv_head;
  return s.split_positions > 0 && (s.kv.head_dim == 64 || s.kv.head_dim == 128) && group <= kDecodeMaxGroup;
}

// Merge of the splits with fixed positions (split_positions > 0): only the splits a token's
// range reaches are read; the weights exp(m_i - m) l_i are computed once per split in shared
// memory. grid: (n_head, n_tokens), 128 threads.
constexpr int kCombineThreads = 128;
constexpr int kMaxSplitsAllowed = 1024;
__global__ void combine_fixed_splits_kernel(const float* partial, const int32_t* positions, float* out,
                                            PagedAttentionShape s, AttentionQ8 q8) {
  __shared__ float weight_s[kMaxSplitsAllowed];
  __shared__ float scale_s[2];
  detail::begin_chained_kernel();  // chained_launch.cuh: waits for the previous kernel first
  const int64_t h = blockIdx.x, t = blockIdx.y, hd = s.kv.head_dim, stride = hd + 2;
  const int64_t len = int64_t{positions[blockIdx.y]} + 1;
  const int64_t used64 = (len + s.split_positions - 1) / s.split_positions;
  const int used = static_cast<int>(used64 < s.n_splits ? used64 : s.n_splits);
  const float* p = partial + (t * s.n_head + h) * s.n_splits * stride;
  if (threadIdx.x < 32) {
    float m = -INFINITY;
    for (int i = threadIdx.x; i < used; i += 32) m = fmaxf(m, p[i * stride + hd]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (threadIdx.x == 0) scale_s[0] = m;
  }
  __syncthreads();
  const float m = scale_s[0];
  for (int i = threadIdx.x; i < used; i += kCombineThreads) {
    const float li = p[i * stride + hd + 1];
    weight_s[i] = li > 0.0f ? expf(p[i * stride + hd] - m) : 0.0f;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float l = 0.0f;  // in split order: the same sum for a token whatever the batch
    for (int i = 0; i < used; ++i) l += weight_s[i] * p[i * stride + hd + 1];
    scale_s[1] = l;
  }
  __syncthreads();
  const float l = scale_s[1];
  for (int64_t d = threadIdx.x; d < hd; d += kCombineThreads) {
    float a = 0.0f;
    for (int i = 0; i < used; ++i) {
      if (weight_s[i] > 0.0f) a += weight_s[i] * p[i * stride + d];
    }
    store_out(out, (t * s.n_head + h) * hd + d, a / l, q8);
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
         s.layer < s.kv.n_layer && s.n_splits >= 1 && s.n_splits <= 1024 && s.split_positions >= 0 &&
         shared_bytes(s.n_head / s.kv.n_kv_head, s.kv.head_dim) <= kMaxSharedBytes;
}

}  // namespace

size_t paged_attention_workspace_bytes(const PagedAttentionShape& s) {
  if (s.n_splits <= 1 || s.n_tokens <= 0) return 0;
  if (s.split_positions <= 0) return partial_bytes(s);
  return counter_bytes(s) + partial_bytes(s);
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
  if (shape.split_positions > 0) {
    const auto* pool = static_cast<const __half*>(kv_pool);
    float* ws = nullptr;  // partials
    int* counters = nullptr;
    if (shape.n_splits > 1) {
      counters = static_cast<int*>(workspace);
      ws = reinterpret_cast<float*>(static_cast<uint8_t*>(workspace) + counter_bytes(shape));
    }
    const AttentionQ8 direct = shape.n_splits == 1 ? q8_out : AttentionQ8{};
    cudaError_t err = cudaSuccess;
    const bool small_group = shape.n_head / shape.kv.n_kv_head <= 4;
    if (takes_decode_kernel(shape)) {
      auto* kernel = shape.kv.head_dim == 64 ? (small_group ? paged_decode_kernel<64, 4> : paged_decode_kernel<64, 8>)
                                             : (small_group ? paged_decode_kernel<128, 4> : paged_decode_kernel<128, 8>);
      const bool merge_here =
          shape.n_splits > 1 && shape.n_splits <= kMaxMergedSplits && shape.n_tokens <= kMergeMaxTokens;
      err = detail::launch_chained(kernel, grid, kThreads, 0, stream, q, pool, positions, table_offsets, block_tables,
                                   out, ws, merge_here ? counters : nullptr, shape, merge_here ? q8_out : direct);
      if (err != cudaSuccess || merge_here) return err;
    } else {
      err = detail::launch_chained(paged_attention_kernel, grid, kThreads,
                                   shared_bytes(shape.n_head / shape.kv.n_kv_head, shape.kv.head_dim), stream, q, pool,
                                   positions, table_offsets, block_tables, out, ws, shape, direct);
    }
    if (err != cudaSuccess || shape.n_splits == 1) return err;
    const dim3 combine_grid(static_cast<unsigned>(shape.n_head), static_cast<unsigned>(shape.n_tokens));
    return detail::launch_chained(combine_fixed_splits_kernel, combine_grid, kCombineThreads, 0, stream,
                                  static_cast<const float*>(ws), positions, out, shape, q8_out);
  }
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
