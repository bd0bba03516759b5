// AVX2 activation quantization (compiled with -mavx2 -mfma -mf16c; called only when the CPU
// has them). Same arithmetic as the portable version, so the bytes are identical: the scale is
// computed in scalar float exactly as there, x * inv is one IEEE multiply, rounding is done
// with the same tie rule (half away for Q8_0, half even for Q8_K), and q is clamped to
// [-127, 127] with NaN -> -127.
#include "kernels/cpu/activation_quant.h"
#include "kernels/cpu/dot_avx2.h"
#include "kernels/cpu/quant_blocks.h"

#if HEARTH_HAVE_AVX2_KERNELS
#include <immintrin.h>

namespace hearth::kernels::cpu::avx2 {
namespace {

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

__m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// Round half away from zero: trunc(v), plus sign(v) where the dropped fraction is >= 0.5
// (v - trunc(v) is exact for the |v| < 2^23 seen here).
__m256 round_half_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
  const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));  // ±1
  return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

enum class Rounding { kHalfEven, kHalfAway };

// 32 floats * scale, rounded, clamped to [-127, 127] (NaN -> -127), stored in order at dst.
template <Rounding kRounding>
void scale_round_store32(const float* x, __m256 scale, int8_t* dst) {
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), scale);
    // Clamp first, as quantize_row does; MAXPS returns its second operand for a NaN first one.
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    const __m256 r = kRounding == Rounding::kHalfAway ? round_half_away(v)
                                                      : _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q[k] = _mm256_cvtps_epi32(r);
  }
  // packs work per 128-bit lane: the result holds groups of 4 in order 0,2,4,6,1,3,5,7.
  const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
  const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
  __m256i bytes = _mm256_packs_epi16(q01, q23);
  bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), bytes);
}

}  // namespace

void quantize_activations_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* out = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b, x += kQK8_0) {
    __m256 m = abs_ps(_mm256_loadu_ps(x));
    for (int k = 1; k < 4; ++k) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + 8 * k)));
    const float amax = hmax(m);
    const float d = amax / 127.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    scale_round_store32<Rounding::kHalfAway>(x, _mm256_set1_ps(inv), out[b].qs);
  }
}

void quantize_activations_q8_K(const float* x, void* dst, int64_t n) {
  BlockQ8_K* out = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < kQK_K / 8; ++k) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + 8 * k)));
    const float amax = hmax(m);
    BlockQ8_K& blk = out[b];
    if (amax == 0.0f) {
      blk = BlockQ8_K{};
      continue;
    }
    // The first value of largest magnitude decides the sign of the scale.
    float vmax = 0.0f;
    const __m256 target = _mm256_set1_ps(amax);
    for (int k = 0; k < kQK_K / 8; ++k) {
      const int hits = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + 8 * k)), target, _CMP_EQ_OQ));
      if (hits != 0) {
        vmax = x[8 * k + __builtin_ctz(static_cast<unsigned>(hits))];
        break;
      }
    }
    const float iscale = -127.0f / vmax;
    const __m256 scale = _mm256_set1_ps(iscale);
    for (int k = 0; k < kQK_K / 32; ++k) scale_round_store32<Rounding::kHalfEven>(x + 32 * k, scale, blk.qs + 32 * k);
    // bsums: 16-element sums; maddubs(1, q) adds pairs, madd(1) adds quads, then two lanes.
    for (int k = 0; k < kQK_K / 32; ++k) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * k));
      const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
      const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
      // quads: lanes 0-3 cover elements 0-15, lanes 4-7 elements 16-31.
      const __m256i h = _mm256_hadd_epi32(quads, quads);  // per 128-bit lane: q0+q1, q2+q3
      const __m256i s = _mm256_hadd_epi32(h, h);          // per 128-bit lane: the 16-sum
      blk.bsums[2 * k] = static_cast<int16_t>(_mm256_cvtsi256_si32(s));
      blk.bsums[2 * k + 1] = static_cast<int16_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(s, 1)));
    }
    blk.d = 1.0f / iscale;
  }
}

}  // namespace hearth::kernels::cpu::avx2

#endif  // HEARTH_HAVE_AVX2_KERNELS
