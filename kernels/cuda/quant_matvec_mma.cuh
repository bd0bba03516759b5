#pragma once
// The integer matvec for 1 <= m <= 64 activation rows on int8 tensor cores (sm_80+ mma.sync):
//   y[m, rows] = x[m, cols] . W^T, W in its GGUF blocks, x in the q8 form of the type (q8_form.h).
// Each warp owns a tile of 16 weight rows (the mma A operand) and a K-slice of the row: chunks of
// 256 elements c = ks, ks + k_split, ... A chunk of the 16 rows is copied to shared memory with
// 16-byte cp.async (coalesced, several chunks in flight per warp: kStages - 1), decoded to int8
// A fragments once and multiplied with the activations of 8 tokens per n-tile (B operand; the
// columns of tokens >= m are zero, so m = 1 costs what m = 8 costs: the weights, read once).
// Per 32-element sub-block (16 for Q6_K) the int32 sums are exact; they are scaled in integer
// (K-quant sub-block scales) and in float per chunk, the CPU dot kernels' formulas.
// A thread block holds 8 warps: 8 / k_split row tiles x k_split K-slices; the K-slices are added
// in a fixed order through shared memory at the end.
// Batch invariance (speculative decoding, issue 6): k_split depends only on the matrix shape and
// each output's float operations are the same explicit-rounding sequence whatever the n-tile
// count, the token's column or m, so a row's result is bitwise the same for every m in 1..64.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cuda/chained_launch.cuh"

namespace hearth::kernels::cuda::detail {

// Warps per thread block (kWarps): 8 (16, sharing each K-slice's activations between twice the
// row tiles, measured slower on an H200: fewer warps per SM). Chunks in flight per warp:
// MmaChunk<T>::kStages - 1 (two 8-warp blocks per SM stay under 100 KB of shared memory each).
inline constexpr int kMmaMaxTiles = 8;  // n-tiles of 8 tokens: m <= 64

// k_split for a matrix: the smallest power of two (<= 8, <= the chunks of a row) that gives at
// least 2048 warps, so even 2048-row matrices keep every SM busy. Shape only (batch invariance).
constexpr int mma_k_split(int64_t rows, int64_t n_chunks) {
  const int64_t tiles = (rows + 15) / 16;
  int k = 1;
  while (k < 8 && tiles * k < 2048 && 2 * k <= n_chunks) k *= 2;
  return k;
}

__device__ __forceinline__ float fp16_bits(uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}

// 32 bits at a 2-byte-aligned shared-memory address.
__device__ __forceinline__ uint32_t lds_u32_a2(const uint8_t* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(a & ~uintptr_t{3});
  return __funnelshift_r(w[0], w[1], static_cast<uint32_t>(a & 3) * 8);
}
__device__ __forceinline__ uint32_t lds_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }

// x - 8 (Q4_0) and x - 32 (Q6_K) on 4 unsigned bytes below 16 / 64, as signed bytes: no carries.
__device__ __forceinline__ uint32_t sub8_bytes(uint32_t v) { return (v + 0x78787878u) ^ 0x80808080u; }
__device__ __forceinline__ uint32_t sub32_bytes(uint32_t v) { return (v + 0x60606060u) ^ 0x80808080u; }
__device__ __forceinline__ int sbyte(uint32_t w, int k) { return static_cast<int>(static_cast<int8_t>(w >> (8 * k))); }
__device__ __forceinline__ int ubyte(uint32_t w, int k) { return static_cast<int>(__byte_perm(w, 0u, 0x4440u | k)); }

// D = A (16 x 32, rows g | g+8) . B (32 x 8, column g), fresh int32 accumulators.
__device__ __forceinline__ void mma_k32(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                        uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};"
               : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
}
__device__ __forceinline__ void mma_k16(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%7,%7,%7};"
               : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
               : "r"(a0), "r"(a1), "r"(b0), "r"(0));
}

// The activations of one chunk (256 columns) for the tokens of this thread: B fragments for token
// nt * 8 + g (zero past m), scales for tokens nt * 8 + 2t and + 1 (the thread's C columns).
struct ChunkX {
  const int8_t* qx;    // token 0, chunk start
  const float2* dsx;   // token 0, chunk start (8 per chunk)
  int qx_stride;       // cols (m * cols < 2^31: checked by the launcher)
  int ds_stride;       // cols / 32
  int m;
  int n_blocks;        // 32-column blocks in this chunk (8, fewer at the end of a Q4_0 / Q8_0 row)
};

// ---- per-type chunk products. Each takes the shared-memory chunk of rows g (w0) and g + 8 (w1),
// the chunk's activations, its valid element count (< 256 only for the last chunk of Q4_0 / Q8_0
// rows whose cols are not a multiple of 256) and adds to acc[nt][c] (c: rows g, g, g+8, g+8 x
// tokens 2t, 2t+1, 2t, 2t+1 of n-tile nt).

// Loop order of every chunk product: sub-block (k-step) outer, n-tile inner, so only one k-step
// of A fragments is live and the registers grow with the n-tiles only by the accumulators.

// The activations a thread reads for n-tile nt of a K-quant chunk: B fragments of token
// nt * 8 + g (zero past m), that token's bsums of sub-blocks 4t .. 4t+3 split as 64 hi + lo
// (bytes; t < 2), the super-block scales of tokens nt * 8 + 2t, + 1. With one n-tile (m <= 8) the
// kernel loads them a chunk ahead (KAsymX prefetch), off the chunk's critical path.
struct KAsymX {
  uint2 b[8];
  uint32_t lo, hi;
  float xd[2];
};
__device__ __forceinline__ KAsymX load_kasym_x(const ChunkX& x, int nt, int g, int t) {
  KAsymX r;
  const int tok_b = nt * 8 + g;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    r.b[j] = tok_b < x.m ? *reinterpret_cast<const uint2*>(x.qx + tok_b * x.qx_stride + 32 * j + 8 * t)
                         : make_uint2(0, 0);
  }
  r.lo = r.hi = 0;
  if (t < 2 && tok_b < x.m) {
    const float4* ds = reinterpret_cast<const float4*>(x.dsx + tok_b * x.ds_stride + 4 * t);
    const float4 v01 = ds[0], v23 = ds[1];
    const int bs[4] = {__float_as_int(v01.y), __float_as_int(v01.w), __float_as_int(v23.y), __float_as_int(v23.w)};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      r.lo |= static_cast<uint32_t>(bs[i] & 63) << (8 * i);
      r.hi |= (static_cast<uint32_t>(bs[i] >> 6) & 0xFFu) << (8 * i);
    }
  }
#pragma unroll
  for (int c = 0; c < 2; ++c) {
    const int tok = nt * 8 + 2 * t + c;
    r.xd[c] = tok < x.m ? x.dsx[tok * x.ds_stride].x : 0.0f;
  }
  return r;
}

// Q4_K / Q5_K: one super-block per chunk. Thread t takes elements 8t .. 8t+7 of each sub-block
// (a k-permutation applied to both operands: mma k 4t+i <-> element 8t+i, 16+4t+i <-> 8t+4+i).
// pre: the activations of n-tile 0 already loaded (kNT == 1), or null.
template <bool kFifth, int kNT>
__device__ __forceinline__ void chunk_k_asym(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int g, int t,
                                             const KAsymX* pre, float (&acc)[kNT][4]) {
  const uint4 h0 = *reinterpret_cast<const uint4*>(w0), h1 = *reinterpret_cast<const uint4*>(w1);
  // packed 6-bit scales and mins (4 per word): sub-blocks 0-3 and 4-7 of rows g (0) and g + 8 (1)
  const uint32_t sc0[2] = {h0.y & 0x3F3F3F3Fu, (h0.w & 0x0F0F0F0Fu) | ((h0.y >> 2) & 0x30303030u)};
  const uint32_t sc1[2] = {h1.y & 0x3F3F3F3Fu, (h1.w & 0x0F0F0F0Fu) | ((h1.y >> 2) & 0x30303030u)};
  constexpr int kQs = kFifth ? 48 : 16;
  uint2 qh0 = make_uint2(0, 0), qh1 = make_uint2(0, 0);
  if constexpr (kFifth) {
    qh0 = *reinterpret_cast<const uint2*>(w0 + 16 + 8 * t);
    qh1 = *reinterpret_cast<const uint2*>(w1 + 16 + 8 * t);
  }
  int is[kNT][4];
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) is[nt][0] = is[nt][1] = is[nt][2] = is[nt][3] = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int p = j >> 1, hi = j & 1;
    const uint2 q0 = *reinterpret_cast<const uint2*>(w0 + kQs + 32 * p + 8 * t);
    const uint2 q1 = *reinterpret_cast<const uint2*>(w1 + kQs + 32 * p + 8 * t);
    uint32_t a0 = (q0.x >> (4 * hi)) & 0x0F0F0F0Fu, a1 = (q1.x >> (4 * hi)) & 0x0F0F0F0Fu;
    uint32_t a2 = (q0.y >> (4 * hi)) & 0x0F0F0F0Fu, a3 = (q1.y >> (4 * hi)) & 0x0F0F0F0Fu;
    if constexpr (kFifth) {
      a0 |= ((qh0.x >> j) & 0x01010101u) << 4;
      a1 |= ((qh1.x >> j) & 0x01010101u) << 4;
      a2 |= ((qh0.y >> j) & 0x01010101u) << 4;
      a3 |= ((qh1.y >> j) & 0x01010101u) << 4;
    }
    const int s0 = ubyte(sc0[j >> 2], j & 3), s1 = ubyte(sc1[j >> 2], j & 3);
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      const int tok_b = nt * 8 + g;
      uint2 b = make_uint2(0, 0);
      if (kNT == 1 && pre != nullptr) {
        b = pre->b[j];
      } else if (tok_b < x.m) {
        b = *reinterpret_cast<const uint2*>(x.qx + tok_b * x.qx_stride + 32 * j + 8 * t);
      }
      int cc[4];
      mma_k32(cc, a0, a1, a2, a3, b.x, b.y);
      is[nt][0] += s0 * cc[0];
      is[nt][1] += s0 * cc[1];
      is[nt][2] += s1 * cc[2];
      is[nt][3] += s1 * cc[3];
    }
  }
  // The mins multiply the sub-block sums of the activations (bsums, < 2^12 in magnitude): as a
  // tensor-core product too, A = the 8 mins of rows g | g+8 (k < 8), B = the bsums of the token
  // split as 64 hi + lo (two int8 products).
  const uint32_t mn_a0 = t == 0   ? (h0.z & 0x3F3F3F3Fu)
                         : t == 1 ? (((h0.w >> 4) & 0x0F0F0F0Fu) | ((h0.z >> 2) & 0x30303030u))
                                  : 0u;
  const uint32_t mn_a1 = t == 0   ? (h1.z & 0x3F3F3F3Fu)
                         : t == 1 ? (((h1.w >> 4) & 0x0F0F0F0Fu) | ((h1.z >> 2) & 0x30303030u))
                                  : 0u;
  const float d0 = fp16_bits(h0.x & 0xFFFF), dmin0 = fp16_bits(h0.x >> 16);
  const float d1 = fp16_bits(h1.x & 0xFFFF), dmin1 = fp16_bits(h1.x >> 16);
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
    uint32_t lo, hi;
    float xds[2];
    if (kNT == 1 && pre != nullptr) {
      lo = pre->lo;
      hi = pre->hi;
      xds[0] = pre->xd[0];
      xds[1] = pre->xd[1];
    } else {
      // only the scale and bsum parts of the n-tile's activations (the B fragments were read above)
      const int tok_b = nt * 8 + g;
      lo = hi = 0;
      if (t < 2 && tok_b < x.m) {
        const float4* ds = reinterpret_cast<const float4*>(x.dsx + tok_b * x.ds_stride + 4 * t);
        const float4 v01 = ds[0], v23 = ds[1];
        const int bs[4] = {__float_as_int(v01.y), __float_as_int(v01.w), __float_as_int(v23.y), __float_as_int(v23.w)};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          lo |= static_cast<uint32_t>(bs[i] & 63) << (8 * i);
          hi |= (static_cast<uint32_t>(bs[i] >> 6) & 0xFFu) << (8 * i);
        }
      }
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int tok = nt * 8 + 2 * t + c;
        xds[c] = tok < x.m ? x.dsx[tok * x.ds_stride].x : 0.0f;
      }
    }
    int ml[4], mh[4];
    mma_k16(ml, mn_a0, mn_a1, lo);
    mma_k16(mh, mn_a0, mn_a1, hi);
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      if (c == 1 && x.m == 1) break;  // single token: no lane has an odd column (uniform branch)
      const float xd = xds[c];
      const int ms0 = ml[c] + 64 * mh[c], ms1 = ml[2 + c] + 64 * mh[2 + c];
      // the CPU's d * dx * isum - dmin * dx * imin, rounding step by step
      const float v0 = __fsub_rn(__fmul_rn(__fmul_rn(d0, xd), static_cast<float>(is[nt][c])),
                                 __fmul_rn(__fmul_rn(dmin0, xd), static_cast<float>(ms0)));
      const float v1 = __fsub_rn(__fmul_rn(__fmul_rn(d1, xd), static_cast<float>(is[nt][2 + c])),
                                 __fmul_rn(__fmul_rn(dmin1, xd), static_cast<float>(ms1)));
      acc[nt][c] = __fadd_rn(acc[nt][c], v0);
      acc[nt][2 + c] = __fadd_rn(acc[nt][2 + c], v1);
    }
  }
}

// Q6_K: one super-block per chunk, 16 groups of 16 elements (one scale each) on m16n8k16: group
// s16 = 8 h + 2 q + s covers elements 128 h + 32 q + 16 s + [0, 16); thread t takes 4t .. 4t+3.
// Low 4 bits: ql[64 h + 32 (q & 1) + l] nibble q >> 1; high 2 bits: qh[32 h + l] bits 2q.
template <int kNT>
__device__ __forceinline__ void chunk_q6_k(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int g, int t,
                                           float (&acc)[kNT][4]) {
  const uint8_t* rows[2] = {w0, w1};
  int is[kNT][4];
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) is[nt][0] = is[nt][1] = is[nt][2] = is[nt][3] = 0;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const int l = 16 * s + 4 * t;
      uint32_t qa[2], qb[2], qh[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        qa[r] = lds_u32_a2(rows[r] + 64 * h + l);       // quarters 0 (low nibbles) and 2 (high)
        qb[r] = lds_u32_a2(rows[r] + 64 * h + 32 + l);  // quarters 1 and 3
        qh[r] = lds_u32_a2(rows[r] + 128 + 32 * h + l);
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        uint32_t a[2];
        int sc[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const uint32_t lo = ((q & 1) ? qb[r] : qa[r]) >> (4 * (q >> 1));
          a[r] = sub32_bytes((lo & 0x0F0F0F0Fu) | (((qh[r] >> (2 * q)) & 0x03030303u) << 4));
          sc[r] = static_cast<int>(static_cast<int8_t>(rows[r][192 + 8 * h + 2 * q + s]));
        }
        const int s16 = 8 * h + 2 * q + s;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
          const int tok_b = nt * 8 + g;
          uint32_t b = 0;
          if (tok_b < x.m) b = *reinterpret_cast<const uint32_t*>(x.qx + tok_b * x.qx_stride + 16 * s16 + 4 * t);
          int cc[4];
          mma_k16(cc, a[0], a[1], b);
          is[nt][0] += sc[0] * cc[0];
          is[nt][1] += sc[0] * cc[1];
          is[nt][2] += sc[1] * cc[2];
          is[nt][3] += sc[1] * cc[3];
        }
      }
    }
  }
  const float d0 = fp16_bits(lds_u16(w0 + 208)), d1 = fp16_bits(lds_u16(w1 + 208));
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      if (c == 1 && x.m == 1) break;  // single token: no lane has an odd column (uniform branch)
      const int tok = nt * 8 + 2 * t + c;
      const float xd = tok < x.m ? x.dsx[tok * x.ds_stride].x : 0.0f;
      acc[nt][c] = __fadd_rn(acc[nt][c], __fmul_rn(__fmul_rn(d0, xd), static_cast<float>(is[nt][c])));
      acc[nt][2 + c] = __fadd_rn(acc[nt][2 + c], __fmul_rn(__fmul_rn(d1, xd), static_cast<float>(is[nt][2 + c])));
    }
  }
}

// The activations of n-tile 0 of a Q4_0 / Q8_0 chunk (loaded a chunk ahead with one n-tile):
// B fragments of token g per block, the block scales of tokens 2t and 2t + 1.
struct Block32X {
  uint32_t b0[8], b1[8];
  float xd[2][8];
};
__device__ __forceinline__ Block32X load_block32_x(const ChunkX& x, int g, int t) {
  Block32X r;
#pragma unroll
  for (int q = 0; q < 8; ++q) {
    const bool in = q < x.n_blocks;
    const int8_t* p = x.qx + g * x.qx_stride + 32 * q + 4 * t;
    r.b0[q] = in && g < x.m ? *reinterpret_cast<const uint32_t*>(p) : 0u;
    r.b1[q] = in && g < x.m ? *reinterpret_cast<const uint32_t*>(p + 16) : 0u;
#pragma unroll
    for (int c = 0; c < 2; ++c) r.xd[c][q] = in && 2 * t + c < x.m ? x.dsx[(2 * t + c) * x.ds_stride + q].x : 0.0f;
  }
  return r;
}

// Q4_0 (18-byte blocks) / Q8_0 (34-byte blocks): 8 blocks per chunk. Thread t takes elements
// 4t .. 4t+3 (mma k 4t..) and 16 + 4t .. (k 16 + 4t..) of each block, the natural mma order.
// pre: the activations of n-tile 0 already loaded (kNT == 1), or null.
template <bool kQ8, int kNT>
__device__ __forceinline__ void chunk_block32(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int n_blocks,
                                              int g, int t, const Block32X* pre, float (&acc)[kNT][4]) {
  constexpr int kBytes = kQ8 ? 34 : 18;
#pragma unroll
  for (int q = 0; q < 8; ++q) {
    if (q >= n_blocks) break;
    const uint8_t* b0 = w0 + kBytes * q;
    const uint8_t* b1 = w1 + kBytes * q;
    const float dw0 = fp16_bits(lds_u16(b0)), dw1 = fp16_bits(lds_u16(b1));
    uint32_t a0, a1, a2, a3;
    if constexpr (kQ8) {
      a0 = lds_u32_a2(b0 + 2 + 4 * t);
      a1 = lds_u32_a2(b1 + 2 + 4 * t);
      a2 = lds_u32_a2(b0 + 18 + 4 * t);
      a3 = lds_u32_a2(b1 + 18 + 4 * t);
    } else {
      const uint32_t v0 = lds_u32_a2(b0 + 2 + 4 * t), v1 = lds_u32_a2(b1 + 2 + 4 * t);
      a0 = sub8_bytes(v0 & 0x0F0F0F0Fu);
      a1 = sub8_bytes(v1 & 0x0F0F0F0Fu);
      a2 = sub8_bytes((v0 >> 4) & 0x0F0F0F0Fu);
      a3 = sub8_bytes((v1 >> 4) & 0x0F0F0F0Fu);
    }
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      const int tok_b = nt * 8 + g;
      uint32_t bb0 = 0, bb1 = 0;
      if (kNT == 1 && pre != nullptr) {
        bb0 = pre->b0[q];
        bb1 = pre->b1[q];
      } else if (tok_b < x.m) {
        const int8_t* p = x.qx + tok_b * x.qx_stride + 32 * q + 4 * t;
        bb0 = *reinterpret_cast<const uint32_t*>(p);
        bb1 = *reinterpret_cast<const uint32_t*>(p + 16);
      }
      int cc[4];
      mma_k32(cc, a0, a1, a2, a3, bb0, bb1);
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        if (c == 1 && x.m == 1) break;  // single token: no lane has an odd column (uniform branch)
        const int tok = nt * 8 + 2 * t + c;
        const float xd = kNT == 1 && pre != nullptr ? pre->xd[c][q] : tok < x.m ? x.dsx[tok * x.ds_stride + q].x : 0.0f;
        // the CPU's d_w * d_x * isum per block
        acc[nt][c] = __fadd_rn(acc[nt][c], __fmul_rn(__fmul_rn(dw0, xd), static_cast<float>(cc[c])));
        acc[nt][2 + c] = __fadd_rn(acc[nt][2 + c], __fmul_rn(__fmul_rn(dw1, xd), static_cast<float>(cc[2 + c])));
      }
    }
  }
}

// Activations loaded a chunk ahead: the K-quant chunks with one n-tile (KAsymX); none elsewhere.
struct NoPre {};

template <DType T> struct MmaChunk;
// Q4_K and Q5_K: the same asymmetric K-quant chunk (Q5_K adds a fifth bit per weight), one
// 144- or 176-byte super-block per chunk.
template <bool kFifthBit, int kBytes, int kStagesInFlight>
struct KAsymChunk {
  using Pre = KAsymX;
  static constexpr bool kPrefetch = true;
  static __device__ __forceinline__ Pre load_pre(const ChunkX& x, int g, int t) {
    return load_kasym_x(x, 0, g, t);
  }
  static constexpr int kChunkBytes = kBytes, kStride = kBytes, kBlockElems = 256, kBlockBytes = kBytes,
                       kPieces = kBytes / 16, kStages = kStagesInFlight;
  template <int kNT>
  static __device__ __forceinline__ void run(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int, int g, int t,
                                             const Pre* pre, float (&acc)[kNT][4]) {
    chunk_k_asym<kFifthBit, kNT>(w0, w1, x, g, t, pre, acc);
  }
};
template <> struct MmaChunk<DType::Q4_K> : KAsymChunk<false, 144, 4> {};
template <> struct MmaChunk<DType::Q5_K> : KAsymChunk<true, 176, 3> {};
template <> struct MmaChunk<DType::Q6_K> {
  using Pre = NoPre;
  static constexpr bool kPrefetch = false;
  static __device__ __forceinline__ Pre load_pre(const ChunkX& x, int g, int t) {
    (void)x, (void)g, (void)t;
    return {};
  }
  // a chunk starts at any even offset: up to 14 bytes of the 16-byte piece before it
  static constexpr int kChunkBytes = 210, kStride = 224, kBlockElems = 256, kBlockBytes = 210, kPieces = 14,
                       kStages = 3;
  template <int kNT>
  static __device__ __forceinline__ void run(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int, int g, int t,
                                             const Pre* pre, float (&acc)[kNT][4]) {
    (void)pre;
    chunk_q6_k<kNT>(w0, w1, x, g, t, acc);
  }
};
template <> struct MmaChunk<DType::Q4_0> {
  using Pre = Block32X;
  static constexpr bool kPrefetch = true;
  static __device__ __forceinline__ Pre load_pre(const ChunkX& x, int g, int t) {
    return load_block32_x(x, g, t);
  }
  static constexpr int kChunkBytes = 144, kStride = 160, kBlockElems = 32, kBlockBytes = 18, kPieces = 9,
                       kStages = 3;  // 4 measured slower (fewer blocks per SM)
  template <int kNT>
  static __device__ __forceinline__ void run(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int n_blocks, int g,
                                             int t, const Pre* pre, float (&acc)[kNT][4]) {
    chunk_block32<false, kNT>(w0, w1, x, n_blocks, g, t, pre, acc);
  }
};
template <> struct MmaChunk<DType::Q8_0> {
  using Pre = Block32X;
  static constexpr bool kPrefetch = true;
  static __device__ __forceinline__ Pre load_pre(const ChunkX& x, int g, int t) {
    return load_block32_x(x, g, t);
  }
  static constexpr int kChunkBytes = 272, kStride = 288, kBlockElems = 32, kBlockBytes = 34, kPieces = 17,
                       kStages = 2;  // 272-byte chunks
  template <int kNT>
  static __device__ __forceinline__ void run(const uint8_t* w0, const uint8_t* w1, const ChunkX& x, int n_blocks, int g,
                                             int t, const Pre* pre, float (&acc)[kNT][4]) {
    chunk_block32<true, kNT>(w0, w1, x, n_blocks, g, t, pre, acc);
  }
};

template <DType T, int kNT, int kWarps>
constexpr size_t mma_smem_bytes() {
  // + 16: lds_u32_a2 may read a word past the last stage
  const size_t weights = size_t{kWarps} * MmaChunk<T>::kStages * 16 * MmaChunk<T>::kStride + 16;
  const size_t reduce = size_t{kWarps} * 4 * kNT * 32 * sizeof(float);
  return weights > reduce ? weights : reduce;
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const auto s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

// The 16-byte pieces a lane copies for every chunk of its warp's 16 rows (vec path): piece
// k of the lane is row r = (lane + 32 k) / kPieces, piece p of that row; its source offset from
// the chunk's first aligned byte in row 0 and its destination in the stage do not change from
// chunk to chunk, so they are computed once (the copy is then an add and a cp.async per piece).
template <DType T>
struct PiecePlan {
  static constexpr int kIters = (16 * MmaChunk<T>::kPieces + 31) / 32;
  uint32_t src[kIters];  // byte offset of the row (clamped to the last row) + 16 p; ~0u: none
  uint32_t dst[kIters];  // byte offset in the stage | p << 16
};

template <DType T>
__device__ __forceinline__ void plan_pieces(PiecePlan<T>& plan, int64_t row_bytes, int64_t rows, int64_t row0,
                                            int lane) {
  using C = MmaChunk<T>;
#pragma unroll
  for (int k = 0; k < PiecePlan<T>::kIters; ++k) {
    const int i = lane + 32 * k;
    const int r = i / C::kPieces, p = i % C::kPieces;
    const int64_t row = row0 + r < rows ? row0 + r : rows - 1;
    plan.src[k] = i < 16 * C::kPieces ? static_cast<uint32_t>(row * row_bytes) + 16u * p : ~0u;
    plan.dst[k] = static_cast<uint32_t>(r * C::kStride + 16 * p) | (static_cast<uint32_t>(p) << 16);
  }
}

// Copies chunk c of the warp's 16 rows into a stage: row r's bytes land at stage + r * kStride +
// (their global address mod 16), so the decoders see the same alignment as in global memory.
// vec: rows and base 16-byte aligned and the matrix under 4 GiB (cp.async of whole 16-byte
// pieces through the plan); else 2-byte copies.
template <DType T>
__device__ __forceinline__ void copy_chunk(uint8_t* stage, const uint8_t* w, int64_t row_bytes, int64_t rows,
                                           int64_t row0, int64_t c, int64_t cols, bool vec, int lane,
                                           const PiecePlan<T>& plan) {
  using C = MmaChunk<T>;
  const int64_t first = c * 256;
  const int64_t n_elems = cols - first < 256 ? cols - first : 256;
  const int bytes = static_cast<int>(n_elems / C::kBlockElems) * C::kBlockBytes;
  const int64_t off = first / C::kBlockElems * C::kBlockBytes;
  if (vec) {
    const int pieces = ((static_cast<int>(off & 15)) + bytes + 15) / 16;
    const uint8_t* base = w + (off & ~int64_t{15});
#pragma unroll
    for (int k = 0; k < PiecePlan<T>::kIters; ++k) {
      if (plan.src[k] != ~0u && static_cast<int>(plan.dst[k] >> 16) < pieces) {
        cp_async16(stage + (plan.dst[k] & 0xFFFFu), base + plan.src[k]);
      }
    }
  } else {
    const int halves = bytes / 2;
    for (int i = lane; i < 16 * halves; i += 32) {
      const int r = i / halves, h = i % halves;
      const int64_t row = row0 + r < rows ? row0 + r : rows - 1;
      const uint8_t* src = w + row * row_bytes + off;
      const int lead = static_cast<int>(reinterpret_cast<uintptr_t>(src) & 15);
      *reinterpret_cast<uint16_t*>(stage + r * C::kStride + lead + 2 * h) =
          *reinterpret_cast<const uint16_t*>(src + 2 * h);
    }
  }
}

// <= 128 registers per thread: two blocks of 8 warps per SM (capping one n-tile at 80 registers
// for three blocks measured slower: fewer loads in flight per warp).
template <DType T, int kNT, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 16 / kWarps)
    matvec_mma_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t rows, int64_t cols, int k_split,
                      bool vec, const int8_t* __restrict__ qx, const float2* __restrict__ dsx, int m,
                      float* __restrict__ y) {
  using C = MmaChunk<T>;
  extern __shared__ __align__(16) uint8_t smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int ks = warp % k_split;
  constexpr int kMmaStages = C::kStages;
  const int tiles_per_block = kWarps / k_split;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * tiles_per_block + warp / k_split) * 16;
  const int64_t n_chunks = (cols + 255) / 256;
  const int my_chunks =
      row0 < rows && ks < n_chunks ? static_cast<int>((n_chunks - ks + k_split - 1) / k_split) : 0;
  uint8_t* stages = smem + static_cast<size_t>(warp) * kMmaStages * 16 * C::kStride;
  PiecePlan<T> plan;
  if (vec) plan_pieces<T>(plan, row_bytes, rows, row0, lane);

  // The weights do not depend on the previous kernel: start loading before waiting for it.
#pragma unroll
  for (int s = 0; s < kMmaStages - 1; ++s) {
    if (s < my_chunks) {
      copy_chunk<T>(stages + s * 16 * C::kStride, w, row_bytes, rows, row0, ks + int64_t{s} * k_split, cols, vec, lane,
                    plan);
    }
    cp_async_commit();
  }
  wait_for_previous_grid();
  allow_dependent_launch();  // the next kernel still waits for our completion before reading y

  const int x_cols = static_cast<int>(cols);
  auto chunk_x = [&](int64_t c) {
    const int left = x_cols - static_cast<int>(c) * 256;
    return ChunkX{qx + c * 256, dsx + c * 8, x_cols, x_cols / 32, m, (left < 256 ? left : 256) / 32};
  };
  using Pre = typename C::Pre;
  constexpr bool kPrefetch = C::kPrefetch && kNT == 1;
  Pre pre_next{};
  if (kPrefetch && my_chunks > 0) pre_next = C::load_pre(chunk_x(ks), g, t);

  float acc[kNT][4];
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
  // Where rows g and g + 8 start in a stage: their bytes' global alignment (vec: the chunk's).
  const int64_t r_lo = row0 + g < rows ? row0 + g : rows - 1, r_hi = row0 + g + 8 < rows ? row0 + g + 8 : rows - 1;
  const uint8_t* w_lo = w + r_lo * row_bytes;
  const uint8_t* w_hi = w + r_hi * row_bytes;
  int stage_i = 0;
  for (int i = 0; i < my_chunks; ++i) {
    Pre pre{};
    if constexpr (kPrefetch) {
      pre = pre_next;
      if (i + 1 < my_chunks) pre_next = C::load_pre(chunk_x(ks + int64_t{i + 1} * k_split), g, t);
    }
    cp_async_wait<kMmaStages - 2>();
    __syncwarp();
    const int next = i + kMmaStages - 1;
    if (next < my_chunks) {
      const int next_stage = stage_i == 0 ? kMmaStages - 1 : stage_i - 1;  // (i + kStages - 1) % kStages
      copy_chunk<T>(stages + next_stage * 16 * C::kStride, w, row_bytes, rows, row0, ks + int64_t{next} * k_split,
                    cols, vec, lane, plan);
    }
    cp_async_commit();
    const int64_t c = ks + int64_t{i} * k_split;
    const int64_t off = c * 256 / C::kBlockElems * C::kBlockBytes;
    const int lead_lo = static_cast<int>(reinterpret_cast<uintptr_t>(w_lo + off) & 15);
    const int lead_hi = static_cast<int>(reinterpret_cast<uintptr_t>(w_hi + off) & 15);
    const uint8_t* stage = stages + stage_i * 16 * C::kStride;
    const ChunkX x = chunk_x(c);
    const int n_blocks = x.n_blocks;
    C::template run<kNT>(stage + g * C::kStride + lead_lo, stage + (g + 8) * C::kStride + lead_hi, x, n_blocks, g, t,
                         kPrefetch ? &pre : nullptr, acc);
    stage_i = stage_i + 1 == kMmaStages ? 0 : stage_i + 1;
  }
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with its stages: the shared memory now holds the partials

  // partial[warp][e][lane], e = 4 nt + c; K-slices added in order ks = 0, 1, ...
  float* partial = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
    for (int c = 0; c < 4; ++c) partial[(warp * 4 * kNT + 4 * nt + c) * 32 + lane] = acc[nt][c];
  }
  __syncthreads();
  if (ks != 0 || row0 >= rows) return;
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      float v = acc[nt][c];
      for (int s = 1; s < k_split; ++s) v = __fadd_rn(v, partial[((warp + s) * 4 * kNT + 4 * nt + c) * 32 + lane]);
      const int64_t row = row0 + g + 8 * (c >> 1);
      const int tok = nt * 8 + 2 * t + (c & 1);
      if (row < rows && tok < m) y[tok * rows + row] = v;
    }
  }
}

}  // namespace hearth::kernels::cuda::detail
