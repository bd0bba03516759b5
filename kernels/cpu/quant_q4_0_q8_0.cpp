// Q4_0 and Q8_0: blocks of 32 with one fp16 scale (layouts in quant_blocks.h).
// Without importance weights both follow ggml's reference quantizers exactly, so rows we write
// are byte-identical to what llama.cpp's reference path writes:
//   Q8_0: d = amax / 127, q = round_half_away(x / d)
//   Q4_0: d = (value of largest magnitude) / -8, q = min(15, floor(x / d + 8.5))
#include <cmath>
#include <cstring>

#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_rows.h"
#include "kernels/cpu/quant_search.h"

namespace hearth::kernels::cpu::detail {
namespace {

// Q4_0 with importance: the weighted search over steps around peak / -8 (levels -8..7).
constexpr SearchGrid kQ4_0Grid{-0.9f, 0.1f, 19};

}  // namespace

void dequantize_q4_0(const void* src, float* dst, int64_t n_blocks) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ4_0 blk;
    std::memcpy(&blk, bytes + b * sizeof blk, sizeof blk);
    const float d = fp16_to_fp32(blk.d);
    float* y = dst + b * kQK4_0;
    for (int l = 0; l < kQK4_0 / 2; ++l) {
      y[l] = d * static_cast<float>((blk.qs[l] & 0xF) - 8);
      y[l + kQK4_0 / 2] = d * static_cast<float>((blk.qs[l] >> 4) - 8);
    }
  }
}

void dequantize_q8_0(const void* src, float* dst, int64_t n_blocks) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n_blocks; ++b) {
    BlockQ8_0 blk;
    std::memcpy(&blk, bytes + b * sizeof blk, sizeof blk);
    const float d = fp16_to_fp32(blk.d);
    float* y = dst + b * kQK8_0;
    for (int l = 0; l < kQK8_0; ++l) y[l] = d * static_cast<float>(blk.qs[l]);
  }
}

void quantize_q4_0(const float* src, void* dst, int64_t n_blocks, const float* importance) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * kQK4_0;
    float d = 0;
    if (importance) {
      d = fit_symmetric_scale<kQK4_0>(x, importance + b * kQK4_0, 8, 7, kQ4_0Grid);
    } else {
      float peak = 0, peak_abs = 0;
      for (int l = 0; l < kQK4_0; ++l) {
        if (std::fabs(x[l]) > peak_abs) {
          peak_abs = std::fabs(x[l]);
          peak = x[l];
        }
      }
      d = peak / -8;
    }
    BlockQ4_0 blk;
    blk.d = fp32_to_fp16(d);
    // ggml rounds with the unrounded scale; with importance we round against the stored one.
    const float d_used = importance ? fp16_to_fp32(blk.d) : d;
    const float inv_d = d_used != 0 ? 1.0f / d_used : 0.0f;
    uint8_t q[kQK4_0];
    for (int l = 0; l < kQK4_0; ++l) {
      // The clamped value is >= 0, so truncation is floor.
      q[l] = static_cast<uint8_t>(static_cast<int>(clamp_nan_to_lo(x[l] * inv_d + 8.5f, 0, 15)));
    }
    for (int l = 0; l < kQK4_0 / 2; ++l) {
      blk.qs[l] = static_cast<uint8_t>(q[l] | (q[l + kQK4_0 / 2] << 4));
    }
    std::memcpy(bytes + b * sizeof blk, &blk, sizeof blk);
  }
}

void quantize_q8_0(const float* src, void* dst, int64_t n_blocks) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * kQK8_0;
    float amax = 0;
    for (int l = 0; l < kQK8_0; ++l) amax = std::fmax(amax, std::fabs(x[l]));
    const float d = amax / 127;
    const float inv_d = d != 0 ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = fp32_to_fp16(d);
    for (int l = 0; l < kQK8_0; ++l) {
      blk.qs[l] = static_cast<int8_t>(std::round(clamp_nan_to_lo(x[l] * inv_d, -127, 127)));
    }
    std::memcpy(bytes + b * sizeof blk, &blk, sizeof blk);
  }
}

}  // namespace hearth::kernels::cpu::detail
