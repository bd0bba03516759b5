// The K-quants: super-blocks of 256 (layouts in quant_blocks.h, bit-compatible with ggml).
//   Q4_K / Q5_K: 8 sub-blocks of 32, x = d * sc * q - dmin * m, 6-bit sc and m per sub-block.
//   Q6_K: 16 sub-blocks of 16, x = d * sc * (q - 32), int8 sc per sub-block.
//   Q8_K: x = d * q with a float d (activations; bsums feed the K-quant dot products).
// Quantizing searches each sub-block's scale (and min) for the least (importance-weighted)
// squared error, then quantizes those scales against the super-block's fp16 d / dmin (for
// Q4_K / Q5_K picking, per sub-block, the best of the 6-bit codes just below and above), then
// re-rounds every element against the scales actually stored.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_rows.h"
#include "kernels/cpu/quant_search.h"

namespace hearth::kernels::cpu::detail {
namespace {

constexpr int kSubBlocks = 8;     // Q4_K / Q5_K sub-blocks of 32
constexpr int kSubSize = 32;
constexpr int kQ6Groups = 16;     // Q6_K sub-blocks of 16
constexpr int kQ6GroupSize = 16;

// Candidate steps (see SearchGrid). Q4_K: the sub-block range spread over nmax-1 .. nmax+1
// steps. A grid of 0.2 is as good as 0.1 (rel. rmse 0.0702 vs 0.0701 on gaussian rows) once the
// best candidate is polished, at half the time.
constexpr SearchGrid kQ4KGrid{-1.0f, 0.2f, 11};
constexpr SearchGrid kQ5KGrid{-0.5f, 0.2f, 8};
constexpr SearchGrid kQ6KGrid{-0.8f, 0.2f, 9};

// ---- 6-bit scales and mins of Q4_K / Q5_K, packed into 12 bytes ------------------------------
// Sub-blocks 0..3: low 6 bits of bytes 0..3 (scale) and 4..7 (min).
// Sub-blocks 4..7: low 4 bits in bytes 8..11 (scale low nibble, min high nibble), top 2 bits in
// the spare top 2 bits of bytes 0..3 (scale) and 4..7 (min).
struct ScaleMin6 {
  int scale;
  int min;
};

ScaleMin6 unpack_scale_min(const uint8_t* packed, int j) {
  if (j < 4) return {packed[j] & 63, packed[j + 4] & 63};
  return {(packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4), (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4)};
}

void pack_scales_mins(const uint8_t scale[kSubBlocks], const uint8_t min[kSubBlocks], uint8_t packed[kKScaleBytes]) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>(scale[j] | ((scale[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>(min[j] | ((min[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
  }
}

int round_to_int(float v, float lo, float hi) { return static_cast<int>(round_small(clamp_nan_to_lo(v, lo, hi))); }

// sum w (x - x̂)^2 over one sub-block of 32 for x̂ = step * q - offset with the nearest q.
float sub_block_error(const float* x, const float* w, float step, float offset, float nmax) {
  const float inv_step = step > 0 ? 1 / step : 0;
  float err[kSubSize];
  for (int i = 0; i < kSubSize; ++i) {
    const float q = round_small(clamp_nan_to_lo((x[i] + offset) * inv_step, 0, nmax));
    const float diff = x[i] - (step * q - offset);
    err[i] = w[i] * diff * diff;
  }
  return tree_sum<kSubSize>(err);
}

// ---- Q4_K / Q5_K quantization of one super-block ---------------------------------------------
struct AsymmetricBlock {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t levels[kQK_K];  // q in [0, nmax] per element
};

AsymmetricBlock quantize_asymmetric_block(const float* x, const float* importance, int nmax, SearchGrid grid) {
  float uniform[kSubSize];
  std::fill(std::begin(uniform), std::end(uniform), 1.0f);
  ScaleMin fits[kSubBlocks];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kSubBlocks; ++j) {
    const float* w = importance ? importance + j * kSubSize : uniform;
    fits[j] = fit_scale_min<kSubSize>(x + j * kSubSize, w, nmax, grid);
    max_scale = std::max(max_scale, fits[j].scale);
    max_min = std::max(max_min, fits[j].min);
  }

  AsymmetricBlock out;
  out.d = fp32_to_fp16(max_scale / 63);
  out.dmin = fp32_to_fp16(max_min / 63);
  const float d = fp16_to_fp32(out.d), dmin = fp16_to_fp32(out.dmin);
  const float inv_d = d > 0 ? 1 / d : 0, inv_dmin = dmin > 0 ? 1 / dmin : 0;
  // Each sub-block's 6-bit scale and min: of the codes just below and above the fitted values,
  // the pair with the least error once the levels are re-rounded against it.
  const float fmax = static_cast<float>(nmax);
  uint8_t scale6[kSubBlocks], min6[kSubBlocks];
  for (int j = 0; j < kSubBlocks; ++j) {
    const float* xs = x + j * kSubSize;
    const float* w = importance ? importance + j * kSubSize : uniform;
    const int s_lo = static_cast<int>(clamp_nan_to_lo(fits[j].scale * inv_d, 0, 63));  // >= 0: truncation floors
    const int m_lo = static_cast<int>(clamp_nan_to_lo(fits[j].min * inv_dmin, 0, 63));
    float best_err = -1;
    for (int s = s_lo; s <= std::min(s_lo + 1, 63); ++s) {
      for (int m = m_lo; m <= std::min(m_lo + 1, 63); ++m) {
        const float err = sub_block_error(xs, w, d * static_cast<float>(s), dmin * static_cast<float>(m), fmax);
        if (best_err < 0 || err < best_err) {
          best_err = err;
          scale6[j] = static_cast<uint8_t>(s);
          min6[j] = static_cast<uint8_t>(m);
        }
      }
    }
  }
  pack_scales_mins(scale6, min6, out.scales);

  // Levels against the scales as stored (the decoder sees only these).
  for (int j = 0; j < kSubBlocks; ++j) {
    const float step = d * scale6[j], offset = dmin * min6[j];
    const float inv_step = step > 0 ? 1 / step : 0;
    for (int l = 0; l < kSubSize; ++l) {
      const int i = j * kSubSize + l;
      out.levels[i] = static_cast<uint8_t>(round_to_int((x[i] + offset) * inv_step, 0, fmax));
    }
  }
  return out;
}

}  // namespace

// ---- Q4_K ------------------------------------------------------------------------------------
void dequantize_q4_k(const void* src, float* dst, int64_t n_blocks) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ4_K blk;
    std::memcpy(&blk, bytes + b * sizeof blk, sizeof blk);
    const float d = fp16_to_fp32(blk.d), dmin = fp16_to_fp32(blk.dmin);
    float* y = dst + b * kQK_K;
    for (int j = 0; j < kSubBlocks; ++j) {
      const ScaleMin6 sm = unpack_scale_min(blk.scales, j);
      const float step = d * static_cast<float>(sm.scale), offset = dmin * static_cast<float>(sm.min);
      // Sub-block j lives in nibble (j & 1) of bytes qs[32 * (j / 2) ...].
      const uint8_t* q = blk.qs + kSubSize * (j / 2);
      const int shift = 4 * (j & 1);
      for (int l = 0; l < kSubSize; ++l) y[j * kSubSize + l] = step * static_cast<float>((q[l] >> shift) & 0xF) - offset;
    }
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n_blocks, const float* importance) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const AsymmetricBlock a = quantize_asymmetric_block(src + b * kQK_K, importance ? importance + b * kQK_K : nullptr,
                                                        15, kQ4KGrid);
    BlockQ4_K blk;
    blk.d = a.d;
    blk.dmin = a.dmin;
    std::memcpy(blk.scales, a.scales, sizeof blk.scales);
    for (int j = 0; j < kQK_K / 64; ++j) {
      for (int l = 0; l < 32; ++l) {
        blk.qs[32 * j + l] = static_cast<uint8_t>(a.levels[64 * j + l] | (a.levels[64 * j + 32 + l] << 4));
      }
    }
    std::memcpy(bytes + b * sizeof blk, &blk, sizeof blk);
  }
}

// ---- Q5_K ------------------------------------------------------------------------------------
void dequantize_q5_k(const void* src, float* dst, int64_t n_blocks) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ5_K blk;
    std::memcpy(&blk, bytes + b * sizeof blk, sizeof blk);
    const float d = fp16_to_fp32(blk.d), dmin = fp16_to_fp32(blk.dmin);
    float* y = dst + b * kQK_K;
    for (int j = 0; j < kSubBlocks; ++j) {
      const ScaleMin6 sm = unpack_scale_min(blk.scales, j);
      const float step = d * static_cast<float>(sm.scale), offset = dmin * static_cast<float>(sm.min);
      const uint8_t* q = blk.qs + kSubSize * (j / 2);
      const int shift = 4 * (j & 1);
      for (int l = 0; l < kSubSize; ++l) {
        const int level = ((q[l] >> shift) & 0xF) | (((blk.qh[l] >> j) & 1) << 4);  // 5th bit: bit j of qh[l]
        y[j * kSubSize + l] = step * static_cast<float>(level) - offset;
      }
    }
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n_blocks, const float* importance) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const AsymmetricBlock a = quantize_asymmetric_block(src + b * kQK_K, importance ? importance + b * kQK_K : nullptr,
                                                        31, kQ5KGrid);
    BlockQ5_K blk;
    blk.d = a.d;
    blk.dmin = a.dmin;
    std::memcpy(blk.scales, a.scales, sizeof blk.scales);
    std::memset(blk.qh, 0, sizeof blk.qh);
    for (int j = 0; j < kQK_K / 64; ++j) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = a.levels[64 * j + l], hi = a.levels[64 * j + 32 + l];
        blk.qs[32 * j + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        blk.qh[l] = static_cast<uint8_t>(blk.qh[l] | ((lo >> 4) << (2 * j)) | ((hi >> 4) << (2 * j + 1)));
      }
    }
    std::memcpy(bytes + b * sizeof blk, &blk, sizeof blk);
  }
}

// ---- Q6_K ------------------------------------------------------------------------------------
// Element e of a super-block: half h = e / 128, r = e % 128, l = r % 32, quarter k = r / 32.
// Low 4 bits: ql[64h + l + 32 * (k & 1)], nibble k / 2. High 2 bits: qh[32h + l], bits 2k, 2k+1.
void dequantize_q6_k(const void* src, float* dst, int64_t n_blocks) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ6_K blk;
    std::memcpy(&blk, bytes + b * sizeof blk, sizeof blk);
    const float d = fp16_to_fp32(blk.d);
    float* y = dst + b * kQK_K;
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {  // quarter k of half h: elements 128h + 32k + l
        const uint8_t* ql = blk.ql + 64 * h + 32 * (k & 1);
        const uint8_t* qh = blk.qh + 32 * h;
        const int low_shift = 4 * (k / 2), high_shift = 2 * k;
        float* yq = y + 128 * h + 32 * k;
        const float step0 = d * static_cast<float>(blk.scales[8 * h + 2 * k]);
        const float step1 = d * static_cast<float>(blk.scales[8 * h + 2 * k + 1]);
        for (int l = 0; l < 32; ++l) {
          const int q = ((ql[l] >> low_shift) & 0xF) | (((qh[l] >> high_shift) & 3) << 4);
          yq[l] = (l < 16 ? step0 : step1) * static_cast<float>(q - 32);
        }
      }
    }
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n_blocks, const float* importance) {
  auto* bytes = static_cast<uint8_t*>(dst);
  float uniform[kQ6GroupSize];
  std::fill(std::begin(uniform), std::end(uniform), 1.0f);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * kQK_K;
    float scales[kQ6Groups];
    float peak = 0;  // the sub-block scale of largest magnitude, signed
    for (int g = 0; g < kQ6Groups; ++g) {
      const float* w = importance ? importance + b * kQK_K + g * kQ6GroupSize : uniform;
      scales[g] = fit_symmetric_scale<kQ6GroupSize>(x + g * kQ6GroupSize, w, 32, 31, kQ6KGrid);
      if (std::fabs(scales[g]) > std::fabs(peak)) peak = scales[g];
    }
    BlockQ6_K blk;
    // The largest scale maps to -128, the longer side of int8 (so sc * d keeps its sign).
    blk.d = fp32_to_fp16(peak != 0 ? peak / -128 : 0.0f);
    const float d = fp16_to_fp32(blk.d);
    const float inv_d = d != 0 ? 1 / d : 0;
    uint8_t levels[kQK_K];
    for (int g = 0; g < kQ6Groups; ++g) {
      const int sc = round_to_int(scales[g] * inv_d, -128, 127);
      blk.scales[g] = static_cast<int8_t>(sc);
      const float step = d * static_cast<float>(sc);
      const float inv_step = step != 0 ? 1 / step : 0;
      for (int l = 0; l < kQ6GroupSize; ++l) {
        const int i = g * kQ6GroupSize + l;
        levels[i] = static_cast<uint8_t>(round_to_int(x[i] * inv_step, -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = levels + 128 * h;
      for (int l = 0; l < 32; ++l) {
        blk.ql[64 * h + l] = static_cast<uint8_t>((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
        blk.ql[64 * h + l + 32] = static_cast<uint8_t>((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
        blk.qh[32 * h + l] =
            static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
      }
    }
    std::memcpy(bytes + b * sizeof blk, &blk, sizeof blk);
  }
}

// ---- Q8_K ------------------------------------------------------------------------------------
void dequantize_q8_k(const void* src, float* dst, int64_t n_blocks) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ8_K blk;
    std::memcpy(&blk, bytes + b * sizeof blk, sizeof blk);
    float* y = dst + b * kQK_K;
    for (int l = 0; l < kQK_K; ++l) y[l] = blk.d * static_cast<float>(blk.qs[l]);
  }
}

// ggml's convention: the value of largest magnitude maps to -127, so d = -peak / 127 carries the
// opposite sign of that value; q = round_even(x / d) clamped to [-127, 127].
void quantize_q8_k(const float* src, void* dst, int64_t n_blocks) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * kQK_K;
    float peak = 0, peak_abs = 0;
    for (int l = 0; l < kQK_K; ++l) {
      if (std::fabs(x[l]) > peak_abs) {
        peak_abs = std::fabs(x[l]);
        peak = x[l];
      }
    }
    BlockQ8_K blk;
    const float inv_d = peak_abs > 0 ? -127 / peak : 0;
    blk.d = peak_abs > 0 ? 1 / inv_d : 0;
    for (int l = 0; l < kQK_K; ++l) blk.qs[l] = static_cast<int8_t>(round_to_int(x[l] * inv_d, -127, 127));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += blk.qs[16 * g + l];
      blk.bsums[g] = static_cast<int16_t>(sum);
    }
    std::memcpy(bytes + b * sizeof blk, &blk, sizeof blk);
  }
}

}  // namespace hearth::kernels::cpu::detail
