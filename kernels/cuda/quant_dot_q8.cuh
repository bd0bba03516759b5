#pragma once
// Integer dot products of GGUF weight blocks with activations quantized to int8 per 32 columns
// (Q8_1-style: qx int8 [m, cols], dsx float2 [m, cols / 32] = (scale d, d * sum of the 32 qx)).
// Several lanes share one weight block ("slots"), so the lanes of a warp read a short contiguous
// span with every load instruction (GGUF blocks of Q4_0, Q8_0 and Q6_K are only 2-byte aligned).
//
// For each type: kLanesPerBlock, WFrag load_w(block, slot), XFrag load_x(qx_row, dsx_row, b, slot)
// (b = block index within the row) and float dot(WFrag, XFrag, slot): the slot's share of
// sum_c W[c] x[c] for block b. Exact integer sums (dp4a), float scales.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/quant_blocks.cuh"

namespace hearth::kernels::cuda::detail {

__device__ __forceinline__ int dp4a(int a, int b, int c) { return __dp4a(a, b, c); }

// Two 2-aligned halves as one 32-bit word (little-endian).
__device__ __forceinline__ uint32_t load_u32_from_u16(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return uint32_t{h[0]} | (uint32_t{h[1]} << 16);
}
__device__ __forceinline__ int load_i32(const int8_t* p) { return *reinterpret_cast<const int*>(p); }

template <DType T> struct Q8Dot;

// ---- Q4_0: 4 lanes per block; slot i reads qs[4i..4i+3]: elements 4i..4i+3 (low nibbles) and
// 16+4i..16+4i+3 (high nibbles). x = d * (q - 8).
template <> struct Q8Dot<DType::Q4_0> {
  static constexpr int kLanesPerBlock = 4, kBlockBytes = 18, kBlockElems = 32;
  struct WFrag { uint32_t q; float d; };
  struct XFrag { int lo, hi; float2 ds; };
  static __device__ __forceinline__ WFrag load_w(const uint8_t* b, int slot) {
    return {load_u32_from_u16(b + 2 + 4 * slot), half_bits_to_float(load_u16(b))};
  }
  static __device__ __forceinline__ XFrag load_x(const int8_t* qx, const float2* dsx, int64_t b, int slot) {
    const int8_t* p = qx + b * 32 + 4 * slot;
    return {load_i32(p), load_i32(p + 16), dsx[b]};
  }
  static __device__ __forceinline__ float dot(const WFrag& w, const XFrag& x, int slot) {
    int s = dp4a(static_cast<int>(w.q & 0x0F0F0F0Fu), x.lo, 0);
    s = dp4a(static_cast<int>((w.q >> 4) & 0x0F0F0F0Fu), x.hi, s);
    // sum (q - 8) x = sum q x - 8 sum x; the block's sum term is added once, by slot 0
    return w.d * (x.ds.x * static_cast<float>(s) - (slot == 0 ? 8.0f * x.ds.y : 0.0f));
  }
};

// ---- Q8_0: 8 lanes per block; slot i reads qs[4i..4i+3]. x = d * q.
template <> struct Q8Dot<DType::Q8_0> {
  static constexpr int kLanesPerBlock = 8, kBlockBytes = 34, kBlockElems = 32;
  struct WFrag { int q; float d; };
  struct XFrag { int x4; float d; };
  static __device__ __forceinline__ WFrag load_w(const uint8_t* b, int slot) {
    return {static_cast<int>(load_u32_from_u16(b + 2 + 4 * slot)), half_bits_to_float(load_u16(b))};
  }
  static __device__ __forceinline__ XFrag load_x(const int8_t* qx, const float2* dsx, int64_t b, int slot) {
    return {load_i32(qx + b * 32 + 4 * slot), dsx[b].x};
  }
  static __device__ __forceinline__ float dot(const WFrag& w, const XFrag& x, int slot) {
    return w.d * x.d * static_cast<float>(dp4a(w.q, x.x4, 0));
  }
};

// ---- Q4_K / Q5_K: 8 lanes per super-block; slot = 2 * pair + half. The slot covers elements
// 64 pair + 16 half + [0, 16) (sub-block 2 pair, low nibbles) and the same + 32 (sub-block
// 2 pair + 1, high nibbles): 16 bytes of qs, 16-byte aligned. x = d sc q - dmin m.
// unpack_scale_min on the block head held in registers: head.y, .z, .w = scale bytes 0-3, 4-7, 8-11
// (byte indexing of a register copy would move it to local memory).
__device__ __forceinline__ void unpack_scale_min_words(const uint4& head, int j, int& scale, int& min) {
  const int k = 8 * (j & 3);
  const uint32_t b0 = (head.y >> k) & 0xFF, b4 = (head.z >> k) & 0xFF;
  if (j < 4) {
    scale = static_cast<int>(b0 & 63);
    min = static_cast<int>(b4 & 63);
  } else {
    const uint32_t b8 = (head.w >> k) & 0xFF;
    scale = static_cast<int>((b8 & 0xF) | ((b0 >> 6) << 4));
    min = static_cast<int>((b8 >> 4) | ((b4 >> 6) << 4));
  }
}

template <bool kFifthBit>
struct Q8DotKAsym {
  static constexpr int kLanesPerBlock = 8, kBlockElems = 256, kBlockBytes = kFifthBit ? 176 : 144;
  struct WFrag { int lo[4], hi[4]; float step0, step1, off0, off1; };
  struct XFrag { int4 lo, hi; float2 ds0, ds1; };
  static __device__ __forceinline__ WFrag load_w(const uint8_t* b, int slot) {
    const int pair = slot >> 1, half = slot & 1;
    const uint4 head = *reinterpret_cast<const uint4*>(b);  // d, dmin, 12 bytes of scales
    const uint4 q = *reinterpret_cast<const uint4*>(b + (kFifthBit ? 48 : 16) + 32 * pair + 16 * half);
    int sc0, m0, sc1, m1;
    unpack_scale_min_words(head, 2 * pair, sc0, m0);
    unpack_scale_min_words(head, 2 * pair + 1, sc1, m1);
    const float d = half_bits_to_float(static_cast<uint16_t>(head.x & 0xFFFF));
    const float dmin = half_bits_to_float(static_cast<uint16_t>(head.x >> 16));
    WFrag w;
    w.step0 = d * sc0;
    w.step1 = d * sc1;
    w.off0 = dmin * m0;
    w.off1 = dmin * m1;
    const uint32_t qw[4] = {q.x, q.y, q.z, q.w};
    uint32_t hw[4] = {0, 0, 0, 0};
    if constexpr (kFifthBit) {
      const uint4 h = *reinterpret_cast<const uint4*>(b + 16 + 16 * half);
      hw[0] = h.x; hw[1] = h.y; hw[2] = h.z; hw[3] = h.w;
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      uint32_t lo = qw[i] & 0x0F0F0F0Fu, hi = (qw[i] >> 4) & 0x0F0F0F0Fu;
      if constexpr (kFifthBit) {
        lo |= ((hw[i] >> (2 * pair)) & 0x01010101u) << 4;
        hi |= ((hw[i] >> (2 * pair + 1)) & 0x01010101u) << 4;
      }
      w.lo[i] = static_cast<int>(lo);
      w.hi[i] = static_cast<int>(hi);
    }
    return w;
  }
  static __device__ __forceinline__ XFrag load_x(const int8_t* qx, const float2* dsx, int64_t b, int slot) {
    const int pair = slot >> 1, half = slot & 1;
    const int8_t* p = qx + b * 256 + 64 * pair + 16 * half;
    // the scales of sub-blocks 2 pair and 2 pair + 1 are adjacent: one 16-byte load
    const float4 ds = *reinterpret_cast<const float4*>(dsx + b * 8 + 2 * pair);
    return {*reinterpret_cast<const int4*>(p), *reinterpret_cast<const int4*>(p + 32), make_float2(ds.x, ds.y),
            make_float2(ds.z, ds.w)};
  }
  static __device__ __forceinline__ float dot(const WFrag& w, const XFrag& x, int slot) {
    int s0 = dp4a(w.lo[0], x.lo.x, 0);
    s0 = dp4a(w.lo[1], x.lo.y, s0);
    s0 = dp4a(w.lo[2], x.lo.z, s0);
    s0 = dp4a(w.lo[3], x.lo.w, s0);
    int s1 = dp4a(w.hi[0], x.hi.x, 0);
    s1 = dp4a(w.hi[1], x.hi.y, s1);
    s1 = dp4a(w.hi[2], x.hi.z, s1);
    s1 = dp4a(w.hi[3], x.hi.w, s1);
    float r = w.step0 * x.ds0.x * static_cast<float>(s0) + w.step1 * x.ds1.x * static_cast<float>(s1);
    // the mins multiply the sums of whole sub-blocks: added once, by the slot of half 0
    if ((slot & 1) == 0) r -= w.off0 * x.ds0.y + w.off1 * x.ds1.y;
    return r;
  }
};
template <> struct Q8Dot<DType::Q4_K> : Q8DotKAsym<false> {};
template <> struct Q8Dot<DType::Q5_K> : Q8DotKAsym<true> {};

// ---- Q6_K: 16 lanes per super-block; slot = 8 * half + s covers l = 4s..4s+3 of each of the 4
// quarters k of that half: elements 128 half + 32 k + 4s + [0, 4). Low 4 bits in ql (k = 0, 2 from
// ql[64 half + 4s], k = 1, 3 from ql[64 half + 32 + 4s]), high 2 bits in qh[32 half + 4s] (bits 2k).
template <> struct Q8Dot<DType::Q6_K> {
  static constexpr int kLanesPerBlock = 16, kBlockBytes = 210, kBlockElems = 256;
  struct WFrag { int q[4]; float step[4]; };
  struct XFrag { int x4[4]; float d[4]; };
  static __device__ __forceinline__ WFrag load_w(const uint8_t* b, int slot) {
    const int half = slot >> 3, s = slot & 7;
    const uint32_t qa = load_u32_from_u16(b + 64 * half + 4 * s);
    const uint32_t qb = load_u32_from_u16(b + 64 * half + 32 + 4 * s);
    const uint32_t qh = load_u32_from_u16(b + 128 + 32 * half + 4 * s);
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
    const float d = half_bits_to_float(load_u16(b + 208));
    WFrag w;
    const uint32_t low[4] = {qa & 0x0F0F0F0Fu, qb & 0x0F0F0F0Fu, (qa >> 4) & 0x0F0F0F0Fu, (qb >> 4) & 0x0F0F0F0Fu};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      w.q[k] = static_cast<int>(low[k] | (((qh >> (2 * k)) & 0x03030303u) << 4));
      w.step[k] = d * static_cast<float>(scales[8 * half + 2 * k + (s >> 2)]);
    }
    return w;
  }
  static __device__ __forceinline__ XFrag load_x(const int8_t* qx, const float2* dsx, int64_t b, int slot) {
    const int half = slot >> 3, s = slot & 7;
    XFrag x;
#pragma unroll
    for (int k = 0; k < 4; ++k) x.x4[k] = load_i32(qx + b * 256 + 128 * half + 32 * k + 4 * s);
    // the 4 scales (quarters k) are adjacent float2s: two 16-byte loads
    const float4* ds = reinterpret_cast<const float4*>(dsx + b * 8 + 4 * half);
    const float4 d01 = ds[0], d23 = ds[1];
    x.d[0] = d01.x;
    x.d[1] = d01.z;
    x.d[2] = d23.x;
    x.d[3] = d23.z;
    return x;
  }
  static __device__ __forceinline__ float dot(const WFrag& w, const XFrag& x, int slot) {
    float r = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      // sum (q - 32) x: the -32 rides along as a dp4a with bytes of -32 (0xE0)
      const int s = dp4a(w.q[k], x.x4[k], dp4a(static_cast<int>(0xE0E0E0E0u), x.x4[k], 0));
      r += w.step[k] * x.d[k] * static_cast<float>(s);
    }
    return r;
  }
};

}  // namespace hearth::kernels::cuda::detail
