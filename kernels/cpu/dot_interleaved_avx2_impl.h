// AVX2 group dot kernels over kInterleaved8 weights (dot_interleaved.h, layout in
// weight_layout.h). Included at the end of dot_avx2.cpp and dot_avx2_vnni.cpp, after
// dot_avx2_impl.h, whose helpers (load256, prefetch_ahead, q8_0_act, dispatch_nx) it uses.
//
// Q4_0, per block column and group of 8 rows (one BlockQ4_0x8, 144 bytes): four 256-bit loads
// hold 4 bytes of each row in 32-bit lane r; masking gives elements 4k..4k+3 (lo[k]) and
// shifting 16+4k..16+4k+3 (hi[k]) of all 8 rows. Each 4-byte piece of the activation block is
// broadcast to the 8 lanes, so the byte dots land directly in lane r = row r: no horizontal sums,
// and the int -> float conversion, the -8 offset and the scale multiply are one vector op each
// for 8 rows (the row kernels pay them per row).
#include <cstddef>

#include "kernels/cpu/dot_interleaved.h"
#include "kernels/cpu/weight_layout.h"

#if HEARTH_HAVE_AVX2_KERNELS

namespace hearth::kernels::cpu::HEARTH_AVX2_NAMESPACE {
namespace {

// The 4 activation bytes at p in every 32-bit lane.
__m256i broadcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Lane r: sum over the block's 32 elements of q_w (unsigned nibble, row r) * q_x.
__m256i q4_0x8_block_sums(const __m256i* lo, const __m256i* hi, const int8_t* xq) {
#if HEARTH_AVX2_VNNI
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k) {
    s0 = _mm256_dpbusd_epi32(s0, lo[k], broadcast4(xq + 4 * k));
    s1 = _mm256_dpbusd_epi32(s1, hi[k], broadcast4(xq + 16 + 4 * k));
  }
  return _mm256_add_epi32(s0, s1);
#else
  // maddubs pairs are at most 2 * 15 * 127 = 3810, so the 8 int16 sums stay below 32767.
  __m256i s = _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k) {
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo[k], broadcast4(xq + 4 * k)));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi[k], broadcast4(xq + 16 + 4 * k)));
  }
  return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
#endif
}

template <int NX>
struct Q4_0x8Kernel {
  static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
    const auto* wb = static_cast<const BlockQ4_0x8*>(w);
    const int64_t nb = n / 32;
    Q8_0Act xa[NX];
    __m256 acc[NX];
    for (int j = 0; j < NX; ++j) {
      xa[j] = q8_0_act(x, x_stride, j, n);
      acc[j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      prefetch_ahead<sizeof(BlockQ4_0x8)>(wb + b);
      __m256i lo[4], hi[4];
      for (int k = 0; k < 4; ++k) {
        const __m256i packed = load256(wb[b].qs + 32 * k);
        lo[k] = _mm256_and_si256(packed, low4);
        hi[k] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
      }
      const __m256 dw = _mm256_cvtph_ps(load128(wb[b].d));
      for (int j = 0; j < NX; ++j) {
        // sum (q - 8) x = sum q x - 8 sum x; sums8 holds 8 sum x.
        const __m256i sums = _mm256_sub_epi32(q4_0x8_block_sums(lo, hi, xa[j].blocks[b].qs),
                                              _mm256_set1_epi32(xa[j].sums8[b]));
        const __m256 scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(xa[j].scales + b));
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[j]);
      }
    }
    for (int j = 0; j < NX; ++j) _mm256_storeu_ps(out + kInterleaveRows * j, acc[j]);
  }
};

// Q4_K, per super-block and group of 8 rows (one BlockQ4_Kx8): the three packed scale words of
// all 8 rows are three loads, unpacked with one row's shifts and masks (unpack_k_scales) into
// 6-bit scales and mins, byte s of a lane being sub-block s of that row. Piece i = 8j + k of
// the nibbles gives elements 64j + 4k.. (sub-block 2j, low nibbles) and 64j + 32 + 4k..
// (sub-block 2j + 1, high nibbles) of every row; each sub-block's int32 sums are multiplied by
// its scale lane by lane. The mins term takes the activation's bsums (one sum per 16 elements)
// times the 8 rows' mins.
struct Q4KScales {
  __m256i sc_lo, sc_hi, mn_lo, mn_hi;  // byte s of a lane: scale / min of sub-block s (or s + 4)
};

Q4KScales unpack_q4_K_scales_x8(const uint8_t* scales) {
  const __m256i u0 = load256(scales), u1 = load256(scales + 32), u2 = load256(scales + 64);
  const __m256i six = _mm256_set1_epi8(0x3F), four = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(0x03);
  Q4KScales s;
  s.sc_lo = _mm256_and_si256(u0, six);
  s.mn_lo = _mm256_and_si256(u1, six);
  s.sc_hi = _mm256_or_si256(_mm256_and_si256(u2, four),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), two), 4));
  s.mn_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), four),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), two), 4));
  return s;
}

// Byte `index` of every 32-bit lane, as int32.
__m256i lane_byte(__m256i v, int index) {
  return _mm256_and_si256(_mm256_srli_epi32(v, 8 * index), _mm256_set1_epi32(0xFF));
}

template <int NX>
struct Q4_Kx8Kernel {
  static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
    const auto* wb = static_cast<const BlockQ4_Kx8*>(w);
    const int64_t nb = n / kQK_K;
    const BlockQ8_K* xb[NX];
    __m256 acc[NX];
    for (int j = 0; j < NX; ++j) {
      xb[j] = act_row<BlockQ8_K>(x, x_stride, j);
      acc[j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      prefetch_ahead<offsetof(BlockQ4_Kx8, qs)>(wb + b);
      const Q4KScales sc = unpack_q4_K_scales_x8(wb[b].scales);
      __m256i isum[NX], imin[NX];
      for (int a = 0; a < NX; ++a) isum[a] = imin[a] = _mm256_setzero_si256();
      for (int j = 0; j < 4; ++j) {
        const uint8_t* qs = wb[b].qs + 256 * j;
#if HEARTH_AVX2_VNNI
        __m256i s_lo[NX], s_hi[NX];
        for (int a = 0; a < NX; ++a) s_lo[a] = s_hi[a] = _mm256_setzero_si256();
        for (int k = 0; k < 8; ++k) {
          if (k % 2 == 0) prefetch_ahead<64>(qs + 32 * k);
          const __m256i packed = load256(qs + 32 * k);
          const __m256i lo = _mm256_and_si256(packed, low4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
          for (int a = 0; a < NX; ++a) {
            const int8_t* xq = xb[a][b].qs + 64 * j + 4 * k;
            s_lo[a] = _mm256_dpbusd_epi32(s_lo[a], lo, broadcast4(xq));
            s_hi[a] = _mm256_dpbusd_epi32(s_hi[a], hi, broadcast4(xq + 32));
          }
        }
        const __m256i scales = j < 2 ? sc.sc_lo : sc.sc_hi;
        const __m256i scale_lo = lane_byte(scales, 2 * (j % 2)), scale_hi = lane_byte(scales, 2 * (j % 2) + 1);
        for (int a = 0; a < NX; ++a) {
          isum[a] = _mm256_add_epi32(isum[a], _mm256_add_epi32(_mm256_mullo_epi32(s_lo[a], scale_lo),
                                                               _mm256_mullo_epi32(s_hi[a], scale_hi)));
        }
#else
        // maddubs pairs are at most 2 * 15 * 127 = 3810: 8 of them summed stay below 32767.
        __m256i s_lo[NX], s_hi[NX];
        for (int a = 0; a < NX; ++a) s_lo[a] = s_hi[a] = _mm256_setzero_si256();
        for (int k = 0; k < 8; ++k) {
          if (k % 2 == 0) prefetch_ahead<64>(qs + 32 * k);
          const __m256i packed = load256(qs + 32 * k);
          const __m256i lo = _mm256_and_si256(packed, low4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
          for (int a = 0; a < NX; ++a) {
            const int8_t* xq = xb[a][b].qs + 64 * j + 4 * k;
            s_lo[a] = _mm256_add_epi16(s_lo[a], _mm256_maddubs_epi16(lo, broadcast4(xq)));
            s_hi[a] = _mm256_add_epi16(s_hi[a], _mm256_maddubs_epi16(hi, broadcast4(xq + 32)));
          }
        }
        // The int16 pair of a lane times its row's scale (in both halves of the lane).
        const __m256i scales = j < 2 ? sc.sc_lo : sc.sc_hi;
        const __m256i scale_lo = lane_byte(scales, 2 * (j % 2)), scale_hi = lane_byte(scales, 2 * (j % 2) + 1);
        const __m256i pair_lo = _mm256_or_si256(scale_lo, _mm256_slli_epi32(scale_lo, 16));
        const __m256i pair_hi = _mm256_or_si256(scale_hi, _mm256_slli_epi32(scale_hi, 16));
        for (int a = 0; a < NX; ++a) {
          isum[a] = _mm256_add_epi32(isum[a], _mm256_add_epi32(_mm256_madd_epi16(s_lo[a], pair_lo),
                                                               _mm256_madd_epi16(s_hi[a], pair_hi)));
        }
#endif
      }
      for (int s = 0; s < 8; ++s) {
        const __m256i mins = lane_byte(s < 4 ? sc.mn_lo : sc.mn_hi, s % 4);
        for (int a = 0; a < NX; ++a) {
          const int32_t bsum = xb[a][b].bsums[2 * s] + xb[a][b].bsums[2 * s + 1];
          imin[a] = _mm256_add_epi32(imin[a], _mm256_mullo_epi32(mins, _mm256_set1_epi32(bsum)));
        }
      }
      const __m256 d = _mm256_cvtph_ps(load128(wb[b].d)), dmin = _mm256_cvtph_ps(load128(wb[b].dmin));
      for (int a = 0; a < NX; ++a) {
        const __m256 dx = _mm256_set1_ps(xb[a][b].d);
        acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[a]), _mm256_mul_ps(d, dx), acc[a]);
        acc[a] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(imin[a]), _mm256_mul_ps(dmin, dx), acc[a]);
      }
    }
    for (int a = 0; a < NX; ++a) _mm256_storeu_ps(out + kInterleaveRows * a, acc[a]);
  }
};

// acc + the sums of 4 adjacent products u[i] * s[i] (u unsigned, s signed bytes) per int32 lane.
__m256i add_dot_u8_s8(__m256i acc, __m256i u, __m256i s) {
#if HEARTH_AVX2_VNNI
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  // u <= 63 (Q6_K): a maddubs pair is at most 2 * 63 * 127 = 16002, no saturation.
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// lo | (hi & mask): one vpternlogd where AVX512-VL is there (the VNNI unit), else two ops.
__m256i or_masked(__m256i lo, __m256i hi, __m256i mask) {
#if HEARTH_AVX2_VNNI
  return _mm256_ternarylogic_epi32(lo, hi, mask, 0xF8);  // a | (b & c)
#else
  return _mm256_or_si256(lo, _mm256_and_si256(hi, mask));
#endif
}

// Signed byte `index` of every 32-bit lane, as int32.
__m256i lane_byte_signed(__m256i v, int index) {
  return _mm256_srai_epi32(_mm256_slli_epi32(v, 24 - 8 * index), 24);
}

// Q6_K, per super-block and group of 8 rows (one BlockQ6_Kx8): for half h and piece k, two ql
// loads and one qh load give the 6-bit quants of elements 128h + 32g + 4k..+3, g = 0..3, of all
// 8 rows (lane r = row r). Sub-block (16 elements) 8h + 2g + k / 4 collects four pieces and is
// then multiplied by its int8 scale lane by lane, after the -32 offset is taken off as
// 32 * (the activation's bsum of that sub-block).
// Every loop inside a super-block is unrolled (the pragmas): with the loop indices constant, the
// scale byte shifts are immediates and the accumulators stay in registers (about 1.35x faster
// than what GCC 12 does with the rolled loops).
template <int NX>
struct Q6_Kx8Kernel {
  static void run(const void* w, const void* x, size_t x_stride, int64_t n, float* out) {
    const auto* wb = static_cast<const BlockQ6_Kx8*>(w);
    const int64_t nb = n / kQK_K;
    const BlockQ8_K* xb[NX];
    __m256 acc[NX];
    #pragma GCC unroll 16
    for (int j = 0; j < NX; ++j) {
      xb[j] = act_row<BlockQ8_K>(x, x_stride, j);
      acc[j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; ++b) {
      const int8_t* scale_bytes = wb[b].scales;
      __m256i scale_words[4];
      #pragma GCC unroll 16
      for (int i = 0; i < 4; ++i) scale_words[i] = load256(scale_bytes + 32 * i);
      __m256i isum[NX];
      #pragma GCC unroll 16
      for (int a = 0; a < NX; ++a) isum[a] = _mm256_setzero_si256();
      #pragma GCC unroll 16
      for (int h = 0; h < 2; ++h) {
        #pragma GCC unroll 16
        for (int quarter = 0; quarter < 2; ++quarter) {
          __m256i s[NX][4];
          #pragma GCC unroll 16
          for (int a = 0; a < NX; ++a) {
            #pragma GCC unroll 16
            for (int g = 0; g < 4; ++g) s[a][g] = _mm256_setzero_si256();
          }
          #pragma GCC unroll 16
          for (int k = 4 * quarter; k < 4 * quarter + 4; ++k) {
            const uint8_t* ql_a = wb[b].ql + 32 * (16 * h + k);
            const uint8_t* ql_b = wb[b].ql + 32 * (16 * h + 8 + k);
            const uint8_t* qh_p = wb[b].qh + 32 * (8 * h + k);
            prefetch_ahead<32>(ql_a);
            prefetch_ahead<32>(ql_b);
            if (k % 2 == 0) prefetch_ahead<64>(qh_p);
            const __m256i la = load256(ql_a), lb = load256(ql_b), qh = load256(qh_p);
            __m256i q[4];
            q[0] = or_masked(_mm256_and_si256(la, low4), _mm256_slli_epi16(qh, 4), bits45);
            q[1] = or_masked(_mm256_and_si256(lb, low4), _mm256_slli_epi16(qh, 2), bits45);
            q[2] = or_masked(_mm256_and_si256(_mm256_srli_epi16(la, 4), low4), qh, bits45);
            q[3] = or_masked(_mm256_and_si256(_mm256_srli_epi16(lb, 4), low4), _mm256_srli_epi16(qh, 2), bits45);
            #pragma GCC unroll 16
            for (int a = 0; a < NX; ++a) {
              const int8_t* xq = xb[a][b].qs + 128 * h + 4 * k;
              #pragma GCC unroll 16
              for (int g = 0; g < 4; ++g) s[a][g] = add_dot_u8_s8(s[a][g], q[g], broadcast4(xq + 32 * g));
            }
          }
          // (sum q x - 32 sum x) * scale; |sums| < 16 * 63 * 127 + 32 * 16 * 127.
          #pragma GCC unroll 16
          for (int g = 0; g < 4; ++g) {
            const int sb = 8 * h + 2 * g + quarter;
            const __m256i scale = lane_byte_signed(scale_words[sb / 4], sb % 4);
            #pragma GCC unroll 16
            for (int a = 0; a < NX; ++a) {
              const __m256i sums = _mm256_sub_epi32(s[a][g], _mm256_set1_epi32(32 * xb[a][b].bsums[sb]));
              isum[a] = _mm256_add_epi32(isum[a], _mm256_mullo_epi32(sums, scale));
            }
          }
        }
      }
      const __m256 d = _mm256_cvtph_ps(load128(wb[b].d));
      #pragma GCC unroll 16
      for (int a = 0; a < NX; ++a) {
        acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[a]), _mm256_mul_ps(d, _mm256_set1_ps(xb[a][b].d)), acc[a]);
      }
    }
    #pragma GCC unroll 16
    for (int a = 0; a < NX; ++a) _mm256_storeu_ps(out + kInterleaveRows * a, acc[a]);
  }
};

}  // namespace

void dot_q6_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<Q6_Kx8Kernel>(w_group, x, x_stride, nx, n, out);
}

void dot_q4_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<Q4_Kx8Kernel>(w_group, x, x_stride, nx, n, out);
}

void dot_q4_0_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  dispatch_nx<Q4_0x8Kernel>(w_group, x, x_stride, nx, n, out);
}

}  // namespace hearth::kernels::cpu::HEARTH_AVX2_NAMESPACE

#endif  // HEARTH_HAVE_AVX2_KERNELS
