// AVX2 row dot kernels. Integer products use _mm256_maddubs_epi16 (unsigned 8-bit x signed
// 8-bit, pairs added into int16) and _mm256_madd_epi16 (int16 pairs into int32), then each
// block's int32 lanes are scaled by d_w * d_x in float and accumulated with FMA.
//
// No int16 step can saturate: the unsigned operand is at most 63 (Q6_K) and activations are
// int8, so a maddubs pair is at most 2 * 63 * 128 = 16128 < 32767.
//
// Each kernel is a template on NX, the number of activation rows sharing one pass over the
// weight row: weights are loaded and unpacked once per block and used NX times.
//
// This file is the body of two translation units: dot_avx2.cpp (namespace avx2, plain AVX2) and
// dot_avx2_vnni.cpp (namespace avx2_vnni, where the unsigned x signed byte dot of Q4_0 and Q8_0
// is one AVX512-VNNI vpdpbusd instead of maddubs + madd). Each defines HEARTH_AVX2_NAMESPACE and
// HEARTH_AVX2_VNNI before including it.
#include "kernels/cpu/dot_avx2.h"

#include <type_traits>

#include "kernels/cpu/quant_blocks.h"

#if HEARTH_HAVE_AVX2_KERNELS
#include <immintrin.h>

namespace hearth::kernels::cpu::HEARTH_AVX2_NAMESPACE {
namespace {

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float half(uint16_t h) { return _cvtsh_ss(h); }

// The fp16 at p as a float, converting straight from memory (one load+convert instead of a
// move into a vector register first). Reads 8 bytes: p must have 6 readable bytes after it,
// true for the scale at the start of every Q4_0 / Q8_0 block.
float half_at(const uint16_t* p) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

template <typename T>
const T* act_row(const void* x, size_t x_stride, int j) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(x) + static_cast<size_t>(j) * x_stride);
}

// Software prefetch distance for the weight stream. The hardware prefetchers alone leave too
// few cache misses in flight when loads are spread out between arithmetic: on a Xeon VM the
// matvecs reached 40-55% of a plain read loop's bandwidth without this, 80-95% with it (1024 to
// 16384 bytes tried; 2048-4096 were best). Prefetching past the end of a row fetches the start
// of the next one; past the end of the matrix it is harmless (prefetches never fault).
#ifndef HEARTH_PREFETCH_BYTES
#define HEARTH_PREFETCH_BYTES 4096
#endif
constexpr int kPrefetchBytes = HEARTH_PREFETCH_BYTES;

// Prefetches the `bytes` bytes that start kPrefetchBytes after p (one prefetch per cache line).
template <int bytes>
void prefetch_ahead(const void* p) {
  const char* c = static_cast<const char*>(p) + kPrefetchBytes;
  for (int off = 0; off < bytes; off += 64) _mm_prefetch(c + off, _MM_HINT_T0);
}

__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Sums of 4 adjacent products u[i] * s[i] (u unsigned, s signed bytes) in 8 int32 lanes.
__m256i dot_u8_s8(__m256i u, __m256i s) {
#if HEARTH_AVX2_VNNI
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
__m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Calls kernel<NX> for the run-time nx (1..kMaxDotRows).
template <template <int> class Kernel>
void dispatch_nx(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  switch (nx) {
    case 1: return Kernel<1>::run(w, x, x_stride, n, out);
    case 2: return Kernel<2>::run(w, x, x_stride, n, out);
    case 3: return Kernel<3>::run(w, x, x_stride, n, out);
    default: return Kernel<4>::run(w, x, x_stride, n, out);
  }
}
static_assert(kMaxDotRows == 4);

// ---- float weights: F32, F16, BF16 against float activations ----

struct LoadF32 {
  static constexpr int kBytes = 4;
  static __m256 load(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
  static float scalar(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  static __m256 load(const void* w, int64_t i) { return _mm256_cvtph_ps(load128(static_cast<const uint16_t*>(w) + i)); }
  static float scalar(const void* w, int64_t i) { return half(static_cast<const uint16_t*>(w)[i]); }
};
struct LoadBF16 {
  static constexpr int kBytes = 2;
  static __m256 load(const void* w, int64_t i) {
    const __m256i wide = _mm256_cvtepu16_epi32(load128(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float scalar(const void* w, int64_t i) { return bfloat_to_float(static_cast<const uint16_t*>(w)[i]); }
};

template <typename Load>
struct FloatDot {
  template <int NX>
  struct Kernel {
    static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
      const float* xr[NX];
      __m256 acc0[NX], acc1[NX];  // two chains per row hide the FMA latency
      for (int j = 0; j < NX; ++j) {
        xr[j] = act_row<float>(x, x_stride, j);
        acc0[j] = acc1[j] = _mm256_setzero_ps();
      }
      int64_t i = 0;
      for (; i + 16 <= n; i += 16) {
        prefetch_ahead<16 * Load::kBytes>(static_cast<const char*>(w) + i * Load::kBytes);
        const __m256 w0 = Load::load(w, i), w1 = Load::load(w, i + 8);
        for (int j = 0; j < NX; ++j) {
          acc0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[j] + i), acc0[j]);
          acc1[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr[j] + i + 8), acc1[j]);
        }
      }
      for (; i + 8 <= n; i += 8) {
        const __m256 w0 = Load::load(w, i);
        for (int j = 0; j < NX; ++j) acc0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[j] + i), acc0[j]);
      }
      for (int j = 0; j < NX; ++j) {
        float sum = hsum(_mm256_add_ps(acc0[j], acc1[j]));
        for (int64_t t = i; t < n; ++t) sum += Load::scalar(w, t) * xr[j][t];
        out[j] = sum;
      }
    }
  };
};

// ---- Q4_0 / Q8_0 weights against Q8_0 activation rows (q8_0_activation_row layout) ----

// One activation row: its blocks, float scales and 8 * quant sums.
struct Q8_0Act {
  const BlockQ8_0* blocks;
  const float* scales;
  const int32_t* sums8;
};

Q8_0Act q8_0_act(const void* x, size_t x_stride, int j, int64_t n) {
  const uint8_t* row = static_cast<const uint8_t*>(x) + static_cast<size_t>(j) * x_stride;
  const Q8_0ActivationRow layout = q8_0_activation_row(n);
  return {reinterpret_cast<const BlockQ8_0*>(row), reinterpret_cast<const float*>(row + layout.scales_offset),
          reinterpret_cast<const int32_t*>(row + layout.sums_offset)};
}

// Q4_0: unsigned nibbles q in [0, 15] times x with maddubs. The -8 offset contributes
// -d_w * d_x * 8 * sum(q_x) per block; Q8_0Dot accumulates it separately in float, eight blocks
// per FMA from the precomputed 8 * sum(q_x), instead of three integer ops in every block.
struct Q4_0Block {
  using Block = BlockQ4_0;
  static constexpr bool kOffsetEight = true;
  // The 16 bytes go to both 128-bit lanes; the high lane is shifted right by 4 so that after
  // masking the low lane holds the low nibbles (elements 0-15), the high lane the high ones.
  template <int NX>
  static void accumulate(const Block& wb, const Q8_0Act* xa, int64_t b, const __m256* scale, __m256* acc) {
    const __m256i both = _mm256_broadcastsi128_si256(load128(wb.qs));
    const __m256i shifted = _mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    const __m256i q = _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
    for (int j = 0; j < NX; ++j) {
      const __m256i sums = dot_u8_s8(q, load256(xa[j].blocks[b].qs));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale[j], acc[j]);
    }
  }
};

// Q8_0: signed x signed via maddubs as |w| (unsigned) times x carrying w's sign. Exact because
// the activation quantizer never produces -128 (whose negation would wrap).
struct Q8_0Block {
  using Block = BlockQ8_0;
  static constexpr bool kOffsetEight = false;
  template <int NX>
  static void accumulate(const Block& wb, const Q8_0Act* xa, int64_t b, const __m256* scale, __m256* acc) {
    const __m256i q = load256(wb.qs);
    const __m256i q_abs = _mm256_sign_epi8(q, q);
    for (int j = 0; j < NX; ++j) {
      const __m256i xs = _mm256_sign_epi8(load256(xa[j].blocks[b].qs), q);
      const __m256i sums = dot_u8_s8(q_abs, xs);
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale[j], acc[j]);
    }
  }
};

template <typename WeightBlock>
struct Q8_0Dot {
  template <int NX>
  struct Kernel {
    static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
      using Block = typename WeightBlock::Block;
      const Block* wb = static_cast<const Block*>(w);
      const int64_t nb = n / 32;
      Q8_0Act xa[NX];
      __m256 acc0[NX], acc1[NX];  // even and odd blocks: two FMA chains
      __m256 offset[NX];          // sum of d_w * d_x * 8 * sum(q_x) (Q4_0's -8), 8 blocks per lane set
      float offset_tail[NX];
      for (int j = 0; j < NX; ++j) {
        xa[j] = q8_0_act(x, x_stride, j, n);
        acc0[j] = acc1[j] = offset[j] = _mm256_setzero_ps();
        offset_tail[j] = 0.0f;
      }
      // Groups of 8 blocks: their 8 fp16 weight scales are packed into one vector (through two
      // 64-bit registers), converted with a single vcvtph2ps and multiplied by the 8 activation
      // scales; each block then takes its lane with one permute. Converting and broadcasting
      // per block cost about a fifth of the Q4_0 loop's time (this is +13% on Q4_0, m = 1).
      int64_t b = 0;
      for (; b + 8 <= nb; b += 8) {
        uint64_t lo = 0, hi = 0;
        for (int k = 0; k < 4; ++k) {
          lo |= static_cast<uint64_t>(wb[b + k].d) << (16 * k);
          hi |= static_cast<uint64_t>(wb[b + 4 + k].d) << (16 * k);
        }
        const __m256 dw8 = _mm256_cvtph_ps(_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
        __m256 scale8[NX];
        for (int j = 0; j < NX; ++j) scale8[j] = _mm256_mul_ps(dw8, _mm256_loadu_ps(xa[j].scales + b));
        if constexpr (WeightBlock::kOffsetEight) {
          for (int j = 0; j < NX; ++j) {
            const __m256 sums8 = _mm256_cvtepi32_ps(load256(xa[j].sums8 + b));
            offset[j] = _mm256_fmadd_ps(scale8[j], sums8, offset[j]);
          }
        }
        for (int k = 0; k < 8; k += 2) {
          prefetch_ahead<2 * sizeof(Block) - 1>(wb + b + k);
          __m256 scale[NX];
          for (int j = 0; j < NX; ++j) scale[j] = _mm256_permutevar8x32_ps(scale8[j], _mm256_set1_epi32(k));
          WeightBlock::template accumulate<NX>(wb[b + k], xa, b + k, scale, acc0);
          for (int j = 0; j < NX; ++j) scale[j] = _mm256_permutevar8x32_ps(scale8[j], _mm256_set1_epi32(k + 1));
          WeightBlock::template accumulate<NX>(wb[b + k + 1], xa, b + k + 1, scale, acc1);
        }
      }
      for (; b < nb; ++b) {
        const __m256 dw = _mm256_set1_ps(half_at(&wb[b].d));
        __m256 scale[NX];
        for (int j = 0; j < NX; ++j) scale[j] = _mm256_mul_ps(dw, _mm256_broadcast_ss(xa[j].scales + b));
        WeightBlock::template accumulate<NX>(wb[b], xa, b, scale, acc0);
        if constexpr (WeightBlock::kOffsetEight) {
          for (int j = 0; j < NX; ++j) offset_tail[j] += _mm256_cvtss_f32(scale[j]) * static_cast<float>(xa[j].sums8[b]);
        }
      }
      for (int j = 0; j < NX; ++j) {
        out[j] = hsum(_mm256_add_ps(acc0[j], acc1[j]));
        if constexpr (WeightBlock::kOffsetEight) out[j] -= hsum(offset[j]) + offset_tail[j];
      }
    }
  };
};

// ---- K-quants against Q8_K activations ----

// int16 lanes all equal to scales16[index] (scales16: 8 int16 in both 128-bit lanes).
__m256i broadcast_scale(__m256i scales16, int index) {
  const __m256i pick = _mm256_set1_epi16(static_cast<short>(0x0100 * (2 * index + 1) + 2 * index));
  return _mm256_shuffle_epi8(scales16, pick);
}

// Q4_K and Q5_K: 4 groups of 64 elements; low nibbles (plus qh bit 2k) are sub-block 2k,
// high nibbles (plus qh bit 2k+1) are sub-block 2k+1. The mins term uses the activation bsums.
template <bool kFiveBit>
struct QKDot {
  template <int NX>
  struct Kernel {
    static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
      using Block = std::conditional_t<kFiveBit, BlockQ5_K, BlockQ4_K>;
      const Block* wb = static_cast<const Block*>(w);
      const int64_t nb = n / kQK_K;
      const BlockQ8_K* xb[NX];
      __m256 acc[NX];
      for (int j = 0; j < NX; ++j) {
        xb[j] = act_row<BlockQ8_K>(x, x_stride, j);
        acc[j] = _mm256_setzero_ps();
      }
      const __m256i low4 = _mm256_set1_epi8(0x0F);
      for (int64_t b = 0; b < nb; ++b) {
        prefetch_ahead<sizeof(Block)>(wb + b);
        uint8_t sc[8], mn[8];
        unpack_k_scales(wb[b].scales, sc, mn);
        int64_t sc_bits, mn_bits;
        __builtin_memcpy(&sc_bits, sc, 8);
        __builtin_memcpy(&mn_bits, mn, 8);
        const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(sc_bits)));
        const __m128i mn8 = _mm_cvtsi64_si128(mn_bits);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));  // m0 m0 m1 m1 ...
        __m256i isum[NX];
        for (int j = 0; j < NX; ++j) isum[j] = _mm256_setzero_si256();
        __m256i high_bits;
        if constexpr (kFiveBit) high_bits = load256(wb[b].qh);
        for (int k = 0; k < 4; ++k) {
          const __m256i q = load256(wb[b].qs + 32 * k);
          __m256i lo = _mm256_and_si256(q, low4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
          if constexpr (kFiveBit) {
            const __m256i one = _mm256_set1_epi8(1);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high_bits, one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 1), one), 4));
            high_bits = _mm256_srli_epi16(high_bits, 2);
          }
          const __m256i s_lo = broadcast_scale(scales16, 2 * k);
          const __m256i s_hi = broadcast_scale(scales16, 2 * k + 1);
          for (int j = 0; j < NX; ++j) {
            const int8_t* xq = xb[j][b].qs + 64 * k;
            const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(xq)), s_lo);
            const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(xq + 32)), s_hi);
            isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(p_lo, p_hi));
          }
        }
        const float dw = half(wb[b].d), dmin = half(wb[b].dmin);
        for (int j = 0; j < NX; ++j) {
          const float dx = xb[j][b].d;
          const __m256i min_sums = _mm256_madd_epi16(load256(xb[j][b].bsums), mins16);
          acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(dw * dx), acc[j]);
          acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sums), _mm256_set1_ps(dmin * dx), acc[j]);
        }
      }
      for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]);
    }
  };
};

// Q6_K: two halves of 128 elements; group g (32 elements) of a half takes its low 4 bits from
// ql (low nibbles of ql[0..32) for g=0, of ql[32..64) for g=1, high nibbles for g=2, 3) and its
// top 2 bits from bits 2g..2g+1 of qh. Its first 16 elements use scale 2g of the half, the
// other 16 scale 2g+1. The -32 offset is applied once per super-block with the bsums.
template <int NX>
struct Q6KKernel {
  static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
    const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
    const int64_t nb = n / kQK_K;
    const BlockQ8_K* xb[NX];
    __m256 acc[NX];
    for (int j = 0; j < NX; ++j) {
      xb[j] = act_row<BlockQ8_K>(x, x_stride, j);
      acc[j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i two_bits = _mm256_set1_epi8(0x03);
    // Byte shuffles putting int16 scale 2g in the low 128-bit lane and 2g+1 in the high one.
    __m256i pick[4];
    for (int g = 0; g < 4; ++g) {
      const short lo = static_cast<short>(0x0100 * (4 * g + 1) + 4 * g);
      const short hi = static_cast<short>(0x0100 * (4 * g + 3) + 4 * g + 2);
      pick[g] = _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
    }
    for (int64_t b = 0; b < nb; ++b) {
      prefetch_ahead<sizeof(BlockQ6_K)>(wb + b);
      const __m256i all_scales = _mm256_cvtepi8_epi16(load128(wb[b].scales));  // 16 int16
      __m256i isum[NX];
      for (int j = 0; j < NX; ++j) {
        // -32 * sum over sub-blocks of scale * bsum
        const __m256i offset = _mm256_madd_epi16(load256(xb[j][b].bsums), all_scales);
        isum[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
      }
      for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = load256(wb[b].ql + 64 * h);
        const __m256i ql1 = load256(wb[b].ql + 64 * h + 32);
        const __m256i qh = load256(wb[b].qh + 32 * h);
        int64_t sc_bits;
        __builtin_memcpy(&sc_bits, wb[b].scales + 8 * h, 8);
        const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_cvtsi64_si128(sc_bits)));
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                               _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                               _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(0xC0))), 2));
        for (int g = 0; g < 4; ++g) {
          const __m256i s = _mm256_shuffle_epi8(scales16, pick[g]);
          for (int j = 0; j < NX; ++j) {
            const __m256i xv = load256(xb[j][b].qs + 128 * h + 32 * g);
            isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), s));
          }
        }
      }
      const float dw = half(wb[b].d);
      for (int j = 0; j < NX; ++j) {
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(dw * xb[j][b].d), acc[j]);
      }
    }
    for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]);
  }
};

}  // namespace

#if !HEARTH_AVX2_VNNI  // the VNNI unit only replaces the byte-dot kernels
void dot_f32(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<FloatDot<LoadF32>::Kernel>(w, x, x_stride, nx, n, out);
}
void dot_f16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<FloatDot<LoadF16>::Kernel>(w, x, x_stride, nx, n, out);
}
void dot_bf16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<FloatDot<LoadBF16>::Kernel>(w, x, x_stride, nx, n, out);
}
#endif
void dot_q4_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<Q8_0Dot<Q4_0Block>::Kernel>(w, x, x_stride, nx, n, out);
}
void dot_q8_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<Q8_0Dot<Q8_0Block>::Kernel>(w, x, x_stride, nx, n, out);
}
#if !HEARTH_AVX2_VNNI
void dot_q4_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<QKDot<false>::Kernel>(w, x, x_stride, nx, n, out);
}
void dot_q5_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<QKDot<true>::Kernel>(w, x, x_stride, nx, n, out);
}
void dot_q6_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<Q6KKernel>(w, x, x_stride, nx, n, out);
}

#endif

}  // namespace hearth::kernels::cpu::HEARTH_AVX2_NAMESPACE

#endif  // HEARTH_HAVE_AVX2_KERNELS
