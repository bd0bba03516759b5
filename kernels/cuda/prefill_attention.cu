// prefill_attention (prefill_attention.h): FlashAttention-2-style causal attention over the paged
// KV pool with FP16 mma.sync (sm_80+). [pre4]
//
// Thread block: 4 warps, 64 query rows (row r = token r / G of the tile, head r % G of the KV
// head's group), warp w owns rows 16w .. 16w + 15. Per K/V tile of 64 positions:
//   S[16 x 64] = Q[16 x hd] . K^T   (Q fragments stay in registers, pre-scaled by scale * log2 e)
//   online softmax on S in registers (exp2), P -> FP16 A fragments (the FA2 register reuse)
//   O[16 x hd] += P . V             (V fragments through ldmatrix.trans)
// Fragment layouts of mma.m16n8k16 (g = lane / 4, t = lane % 4): A regs (row g | g+8, cols
// 2t, 2t+1 | +8); B regs (k rows 2t, 2t+1 | +8, col g); C (row g: c0 c1 at cols 2t, 2t+1; row
// g + 8: c2 c3).
#include "kernels/cuda/prefill_attention.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace hearth::kernels::cuda {
namespace {

constexpr int kRows = 64;      // query rows per thread block
constexpr int kKvTile = 64;    // positions per K/V tile
constexpr int kThreads = 128;  // 4 warps x 16 rows
constexpr int kMaxSplits = 16;
constexpr float kLog2e = 1.4426950408889634f;

template <int HD> constexpr int kLd = HD + 8;  // padded shared row (halves): conflict-free fragments

template <int HD>
constexpr size_t shared_bytes() {
  return static_cast<size_t>(3 * kRows * kLd<HD>) * sizeof(__half);  // Q, K, V tiles (kKvTile == kRows)
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ void mma_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const __half* p) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void cp_async16(__half* dst, const __half* src) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(addr), "l"(src));
}
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory"); }

// grid: (token tiles, n_kv_head, n_splits)
template <int HD>
__global__ void __launch_bounds__(kThreads) prefill_attention_kernel(
    const float* __restrict__ q, const __half* __restrict__ pool, const int32_t* __restrict__ positions,
    const int32_t* __restrict__ table_offsets, const int32_t* __restrict__ block_tables, float* __restrict__ out,
    float* __restrict__ partial, PagedAttentionShape s) {
  constexpr int LD = kLd<HD>;
  constexpr int KD = HD / 16;  // k-steps of Q K^T, and pairs of 8-wide output column tiles of P V
  extern __shared__ uint4 smem_u4[];
  __half* Qs = reinterpret_cast<__half*>(smem_u4);
  __half* Ks = Qs + kRows * LD;
  __half* Vs = Ks + kKvTile * LD;
  __shared__ int32_t row_pos[kRows];
  __shared__ int32_t row_table[kRows];  // table offset of the row's sequence; -1: done / padding
  __shared__ int32_t seg_table, seg_len;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int G = static_cast<int>(s.n_head / s.kv.n_kv_head);
  const int tokens_per_block = kRows / G;
  const int64_t t0 = static_cast<int64_t>(blockIdx.x) * tokens_per_block;
  const int kvh = blockIdx.y;
  const int split = blockIdx.z;

  if (tid < kRows) {
    const int64_t token = t0 + tid / G;
    const bool valid = token < s.n_tokens;
    row_pos[tid] = valid ? positions[token] : -1;
    row_table[tid] = valid ? table_offsets[token] : -1;
  }
  // Q rows -> FP16, scaled so that scores come out in log2 units.
  const float qscale = s.scale * kLog2e;
  for (int i = tid; i < kRows * HD / 4; i += kThreads) {
    const int r = i / (HD / 4), c = 4 * (i % (HD / 4));
    const int64_t token = t0 + r / G;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (token < s.n_tokens) {
      v = *reinterpret_cast<const float4*>(q + (token * s.n_head + static_cast<int64_t>(kvh) * G + r % G) * HD + c);
    }
    uint2 h;
    h.x = pack_half2(v.x * qscale, v.y * qscale);
    h.y = pack_half2(v.z * qscale, v.w * qscale);
    *reinterpret_cast<uint2*>(Qs + r * LD + c) = h;
  }
  __syncthreads();
  const int r0 = 16 * warp + g, r1 = r0 + 8;  // this thread's two rows
  uint32_t qf[KD][4];
#pragma unroll
  for (int kk = 0; kk < KD; ++kk) {
    qf[kk][0] = *reinterpret_cast<const uint32_t*>(Qs + r0 * LD + 16 * kk + 2 * t);
    qf[kk][1] = *reinterpret_cast<const uint32_t*>(Qs + r1 * LD + 16 * kk + 2 * t);
    qf[kk][2] = *reinterpret_cast<const uint32_t*>(Qs + r0 * LD + 16 * kk + 8 + 2 * t);
    qf[kk][3] = *reinterpret_cast<const uint32_t*>(Qs + r1 * LD + 16 * kk + 8 + 2 * t);
  }

  const int64_t block_elems = s.kv.block_elements();
  const int64_t k_off = s.kv.kv_offset(s.layer, 0, kvh), v_off = s.kv.kv_offset(s.layer, 1, kvh);
  const int bt = static_cast<int>(s.kv.block_tokens);

  // One pass per sequence present in the tile (usually one).
  for (;;) {
    __syncthreads();
    if (tid == 0) {
      int32_t table = -1, len = 0;
      for (int r = 0; r < kRows; ++r) {
        if (row_table[r] < 0) continue;
        if (table < 0) table = row_table[r];
        if (row_table[r] == table) len = max(len, row_pos[r] + 1);
      }
      seg_table = table;
      seg_len = len;
    }
    __syncthreads();
    const int32_t table = seg_table;
    if (table < 0) break;
    const int32_t* tab = block_tables + table;
    const bool act0 = row_table[r0] == table, act1 = row_table[r1] == table;
    const int pos0 = act0 ? row_pos[r0] : -1, pos1 = act1 ? row_pos[r1] : -1;
    int warp_max = max(pos0, pos1);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) warp_max = max(warp_max, __shfl_xor_sync(0xffffffffu, warp_max, o));

    // This split's positions: whole tiles of the segment's range.
    const int n_tiles = (seg_len + kKvTile - 1) / kKvTile;
    const int per_split = (n_tiles + s.n_splits - 1) / s.n_splits;
    const int kv_begin = split * per_split * kKvTile;
    const int kv_end = min(seg_len, (split + 1) * per_split * kKvTile);

    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    float o[2 * KD][4];
#pragma unroll
    for (int n = 0; n < 2 * KD; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;

    for (int kv0 = kv_begin; kv0 < kv_end; kv0 += kKvTile) {
      // K and V rows of positions kv0 .. kv0 + 63 (zeros past the segment: masked scores times
      // V must stay finite).
      for (int i = tid; i < kKvTile * HD / 8; i += kThreads) {
        const int p = i / (HD / 8), c = 8 * (i % (HD / 8));
        const int pos = kv0 + p;
        if (pos < seg_len) {
          const int64_t base = static_cast<int64_t>(tab[pos / bt]) * block_elems + static_cast<int64_t>(pos % bt) * HD + c;
          cp_async16(Ks + p * LD + c, pool + base + k_off);
          cp_async16(Vs + p * LD + c, pool + base + v_off);
        } else {
          *reinterpret_cast<uint4*>(Ks + p * LD + c) = make_uint4(0, 0, 0, 0);
          *reinterpret_cast<uint4*>(Vs + p * LD + c) = make_uint4(0, 0, 0, 0);
        }
      }
      cp_async_wait_all();
      __syncthreads();

      if (kv0 <= warp_max) {  // else every score of this warp's rows is masked
        float sc[8][4];
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.f;
#pragma unroll
          for (int kk = 0; kk < KD; ++kk) {
            const __half* kr = Ks + (8 * j + g) * LD + 16 * kk + 2 * t;
            mma_16816(sc[j], qf[kk], *reinterpret_cast<const uint32_t*>(kr), *reinterpret_cast<const uint32_t*>(kr + 8));
          }
        }
        // Causal mask and the running max per row.
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int pos = kv0 + 8 * j + 2 * t + e;
            if (pos > pos0) sc[j][e] = -INFINITY;
            if (pos > pos1) sc[j][2 + e] = -INFINITY;
            mx0 = fmaxf(mx0, sc[j][e]);
            mx1 = fmaxf(mx1, sc[j][2 + e]);
          }
        }
#pragma unroll
        for (int o2 = 1; o2 < 4; o2 <<= 1) {
          mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, o2));
          mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, o2));
        }
        const float new0 = fmaxf(m0, mx0), new1 = fmaxf(m1, mx1);
        const float base0 = new0 == -INFINITY ? 0.f : new0, base1 = new1 == -INFINITY ? 0.f : new1;
        const float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
        m0 = new0;
        m1 = new1;
        l0 *= alpha0;
        l1 *= alpha1;
#pragma unroll
        for (int n = 0; n < 2 * KD; ++n) {
          o[n][0] *= alpha0;
          o[n][1] *= alpha0;
          o[n][2] *= alpha1;
          o[n][3] *= alpha1;
        }
        uint32_t pf[4][4];  // P as A fragments of the four 16-position k-steps
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float p00 = exp2f(sc[j][0] - base0), p01 = exp2f(sc[j][1] - base0);
          const float p10 = exp2f(sc[j][2] - base1), p11 = exp2f(sc[j][3] - base1);
          l0 += p00 + p01;
          l1 += p10 + p11;
          pf[j / 2][(j % 2) * 2 + 0] = pack_half2(p00, p01);
          pf[j / 2][(j % 2) * 2 + 1] = pack_half2(p10, p11);
        }
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
          for (int dp = 0; dp < KD; ++dp) {
            uint32_t b[4];
            const int mi = lane / 8, rr = lane % 8;
            ldmatrix_x4_trans(b, Vs + (16 * kk + rr + (mi & 1) * 8) * LD + 16 * dp + (mi >> 1) * 8);
            mma_16816(o[2 * dp], pf[kk], b[0], b[1]);
            mma_16816(o[2 * dp + 1], pf[kk], b[2], b[3]);
          }
        }
      }
      __syncthreads();  // the next tile overwrites Ks / Vs
    }

    // Row sums over the four threads of each row.
#pragma unroll
    for (int o2 = 1; o2 < 4; o2 <<= 1) {
      l0 += __shfl_xor_sync(0xffffffffu, l0, o2);
      l1 += __shfl_xor_sync(0xffffffffu, l1, o2);
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const bool act = half == 0 ? act0 : act1;
      if (!act) continue;
      const int r = half == 0 ? r0 : r1;
      const int64_t token = t0 + r / G;
      const int64_t head = static_cast<int64_t>(kvh) * G + r % G;
      const float m = half == 0 ? m0 : m1, l = half == 0 ? l0 : l1;
      if (s.n_splits == 1) {
        float* dst = out + (token * s.n_head + head) * HD;
        const float inv = 1.0f / l;
#pragma unroll
        for (int n = 0; n < 2 * KD; ++n) {
          *reinterpret_cast<float2*>(dst + 8 * n + 2 * t) = make_float2(o[n][2 * half] * inv, o[n][2 * half + 1] * inv);
        }
      } else {
        // [token][head][split][hd + 2]: unnormalized O, then max (log2 units) and sum.
        float* dst = partial + ((token * s.n_head + head) * s.n_splits + split) * (HD + 2);
#pragma unroll
        for (int n = 0; n < 2 * KD; ++n) {
          dst[8 * n + 2 * t] = o[n][2 * half];
          dst[8 * n + 2 * t + 1] = o[n][2 * half + 1];
        }
        if (t == 0) {
          dst[HD] = m;
          dst[HD + 1] = l;
        }
      }
    }
    __syncthreads();
    if (t == 0) {
      if (act0) row_table[r0] = -1;
      if (act1) row_table[r1] = -1;
    }
  }
}

// grid: (n_head, n_tokens), hd threads: out = sum_s 2^(m_s - M) O_s / sum_s 2^(m_s - M) l_s.
__global__ void combine_prefill_splits_kernel(const float* __restrict__ partial, float* __restrict__ out,
                                              PagedAttentionShape s) {
  const int64_t hd = s.kv.head_dim, stride = hd + 2;
  const int64_t h = blockIdx.x, token = blockIdx.y;
  const float* p = partial + (token * s.n_head + h) * s.n_splits * stride;
  float m = -INFINITY;
  for (int i = 0; i < s.n_splits; ++i) m = fmaxf(m, p[i * stride + hd]);
  float l = 0.f;
  for (int i = 0; i < s.n_splits; ++i) {
    if (p[i * stride + hd + 1] > 0.f) l += exp2f(p[i * stride + hd] - m) * p[i * stride + hd + 1];
  }
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.f;
    for (int i = 0; i < s.n_splits; ++i) {
      if (p[i * stride + hd + 1] > 0.f) a += exp2f(p[i * stride + hd] - m) * p[i * stride + d];
    }
    out[(token * s.n_head + h) * hd + d] = a / l;
  }
}

bool valid_shape(const PagedAttentionShape& s) {
  if (s.n_tokens < 0 || s.n_head <= 0 || s.kv.n_kv_head <= 0 || s.n_head % s.kv.n_kv_head != 0) return false;
  if (s.kv.head_dim != 64 && s.kv.head_dim != 128) return false;
  const int64_t g = s.n_head / s.kv.n_kv_head;
  if (g > kRows || kRows % g != 0) return false;
  if (s.kv.block_tokens <= 0 || s.layer < 0 || s.layer >= s.kv.n_layer) return false;
  if (s.n_splits < 1 || s.n_splits > kMaxSplits) return false;
  // grid limits: y = KV heads; the split merge's y = tokens
  return s.kv.n_kv_head <= 65535 && (s.n_splits == 1 || s.n_tokens <= 65535);
}

template <int HD>
cudaError_t launch(const float* q, const __half* pool, const int32_t* positions, const int32_t* table_offsets,
                   const int32_t* block_tables, float* out, float* partial, const PagedAttentionShape& s,
                   cudaStream_t stream) {
  const int64_t tokens_per_block = kRows / (s.n_head / s.kv.n_kv_head);
  const int64_t tiles = (s.n_tokens + tokens_per_block - 1) / tokens_per_block;
  if (tiles > 0x7FFFFFFF) return cudaErrorInvalidValue;
  constexpr size_t smem = shared_bytes<HD>();
  if (const cudaError_t e = cudaFuncSetAttribute(prefill_attention_kernel<HD>,
                                                 cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(s.kv.n_kv_head), static_cast<unsigned>(s.n_splits));
  prefill_attention_kernel<HD><<<grid, kThreads, smem, stream>>>(q, pool, positions, table_offsets, block_tables, out,
                                                                 partial, s);
  return cudaGetLastError();
}

}  // namespace

bool prefill_attention_supported(const PagedAttentionShape& shape) {
  PagedAttentionShape s = shape;
  s.n_splits = 1;
  return valid_shape(s);
}

size_t prefill_attention_workspace_bytes(const PagedAttentionShape& s) {
  if (s.n_splits <= 1 || s.n_tokens <= 0) return 0;
  return static_cast<size_t>(s.n_tokens) * static_cast<size_t>(s.n_head) * static_cast<size_t>(s.n_splits) *
         static_cast<size_t>(s.kv.head_dim + 2) * sizeof(float);
}

int prefill_attention_splits(const PagedAttentionShape& shape, int64_t max_len, int sm_count, size_t workspace_bytes) {
  if (!prefill_attention_supported(shape) || shape.n_tokens <= 0 || sm_count <= 0) return 1;
  const int64_t tokens_per_block = kRows / (shape.n_head / shape.kv.n_kv_head);
  const int64_t blocks = (shape.n_tokens + tokens_per_block - 1) / tokens_per_block * shape.kv.n_kv_head;
  if (blocks >= sm_count) return 1;  // the token tiles fill the device: no merge pass
  const int64_t want = (2 * int64_t{sm_count} + blocks - 1) / blocks;
  const int64_t useful = (max_len + 4 * kKvTile - 1) / (4 * kKvTile);  // >= 4 K/V tiles per split
  int splits = static_cast<int>(std::clamp<int64_t>(std::min(want, useful), 1, kMaxSplits));
  PagedAttentionShape s = shape;
  for (; splits > 1; --splits) {
    s.n_splits = splits;
    if (prefill_attention_workspace_bytes(s) <= workspace_bytes) break;
  }
  return splits;
}

cudaError_t prefill_attention(const float* q, const void* kv_pool, const int32_t* positions,
                              const int32_t* table_offsets, const int32_t* block_tables, float* out,
                              void* workspace, const PagedAttentionShape& shape, cudaStream_t stream) {
  if (!valid_shape(shape)) return cudaErrorInvalidValue;
  if (shape.n_tokens == 0) return cudaSuccess;
  if (q == nullptr || kv_pool == nullptr || positions == nullptr || table_offsets == nullptr ||
      block_tables == nullptr || out == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (reinterpret_cast<uintptr_t>(q) % 16 != 0 || reinterpret_cast<uintptr_t>(out) % 8 != 0 ||
      reinterpret_cast<uintptr_t>(kv_pool) % 16 != 0) {
    return cudaErrorMisalignedAddress;
  }
  if (shape.n_splits > 1 && workspace == nullptr) return cudaErrorInvalidValue;
  const auto* pool = static_cast<const __half*>(kv_pool);
  auto* partial = static_cast<float*>(workspace);
  const cudaError_t e =
      shape.kv.head_dim == 64
          ? launch<64>(q, pool, positions, table_offsets, block_tables, out, partial, shape, stream)
          : launch<128>(q, pool, positions, table_offsets, block_tables, out, partial, shape, stream);
  if (e != cudaSuccess || shape.n_splits == 1) return e;
  const dim3 grid(static_cast<unsigned>(shape.n_head), static_cast<unsigned>(shape.n_tokens));
  combine_prefill_splits_kernel<<<grid, 64, 0, stream>>>(partial, out, shape);
  return cudaGetLastError();
}

}  // namespace hearth::kernels::cuda
