// Portable activation quantization and the run-time dispatch to the AVX2 version.
#include "kernels/cpu/activation_quant.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/dot_avx2.h"
#include "kernels/cpu/dot_portable.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"

namespace hearth::kernels::cpu {

void quantize_activations_q8_0(const float* x, void* dst, int64_t n, SimdLevel level) {
#if HEARTH_HAVE_AVX2_KERNELS
  if (level >= SimdLevel::kAvx2) return avx2::quantize_activations_q8_0(x, dst, n);
#endif
  portable::quantize_activations_q8_0(x, dst, n);
}

void quantize_activations_q8_K(const float* x, void* dst, int64_t n, SimdLevel level) {
#if HEARTH_HAVE_AVX2_KERNELS
  if (level >= SimdLevel::kAvx2) return avx2::quantize_activations_q8_K(x, dst, n);
#endif
  portable::quantize_activations_q8_K(x, dst, n);
}

void quantize_q8_0_activation_row(const float* x, void* row, int64_t n, SimdLevel level) {
  quantize_activations_q8_0(x, row, n, level);
  const Q8_0ActivationRow layout = q8_0_activation_row(n);
  uint8_t* bytes = static_cast<uint8_t*>(row);
  const BlockQ8_0* blocks = static_cast<const BlockQ8_0*>(row);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float scale = half_to_float(blocks[b].d);
    int32_t sum = 0;
    for (int i = 0; i < kQK8_0; ++i) sum += blocks[b].qs[i];
    sum *= 8;
    std::memcpy(bytes + layout.scales_offset + 4 * b, &scale, 4);
    std::memcpy(bytes + layout.sums_offset + 4 * b, &sum, 4);
  }
}

namespace portable {
namespace {
// Rounded value clamped to [-127, 127]; NaN (from NaN or inf activations) becomes -127, as in
// quantize_row, instead of an undefined float -> int conversion.
int8_t to_int8(float rounded) {
  if (!(rounded >= -127.0f)) return -127;
  return static_cast<int8_t>(rounded < 127.0f ? rounded : 127.0f);
}
}  // namespace

void quantize_activations_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* out = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK8_0; ++b, x += kQK8_0) {
    float amax = 0.0f;
    for (int i = 0; i < kQK8_0; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int i = 0; i < kQK8_0; ++i) out[b].qs[i] = to_int8(std::round(x[i] * inv));
  }
}

void quantize_activations_q8_K(const float* x, void* dst, int64_t n) {
  BlockQ8_K* out = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float amax = 0.0f, vmax = 0.0f;
    for (int i = 0; i < kQK_K; ++i) {
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        vmax = x[i];
      }
    }
    BlockQ8_K& blk = out[b];
    if (amax == 0.0f) {
      blk = BlockQ8_K{};
      continue;
    }
    const float iscale = -127.0f / vmax;
    for (int i = 0; i < kQK_K; ++i) {
      blk.qs[i] = to_int8(std::nearbyint(iscale * x[i]));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.qs[16 * g + i];
      blk.bsums[g] = static_cast<int16_t>(sum);
    }
    blk.d = 1.0f / iscale;
  }
}

}  // namespace portable
}  // namespace hearth::kernels::cpu
