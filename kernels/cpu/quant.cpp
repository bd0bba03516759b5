// dequantize_row / quantize_row: size checks, then the per-type converter (quant_rows.h).
// The float types (F32, F16, BF16) are converted here, element by element.
#include "kernels/cpu/quant.h"

#include <cstring>

#include "kernels/cpu/quant_rows.h"

namespace hearth::kernels::cpu {
namespace {

// Number of whole blocks in n elements of t, or the status that rejects the call.
struct BlockCount {
  KernelStatus status;
  int64_t blocks;
};

BlockCount block_count(DType t, int64_t n) {
  const auto tr = dtype_traits(static_cast<uint32_t>(t));
  if (!tr) return {KernelStatus::kUnsupportedType, 0};
  if (n < 0 || n % tr->block_elements != 0) return {KernelStatus::kBadSize, 0};
  return {KernelStatus::kOk, n / tr->block_elements};
}

template <typename Convert>
void from_16bit(const void* src, float* dst, int64_t n, Convert convert) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, 2);
    dst[i] = convert(h);
  }
}

template <typename Convert>
void to_16bit(const float* src, void* dst, int64_t n, Convert convert) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = convert(src[i]);
    std::memcpy(bytes + 2 * i, &h, 2);
  }
}

}  // namespace

KernelStatus dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const BlockCount c = block_count(t, n);
  if (c.status != KernelStatus::kOk || n == 0) return c.status;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
    case DType::F16: from_16bit(src, dst, n, fp16_to_fp32); break;
    case DType::BF16: from_16bit(src, dst, n, bf16_to_fp32); break;
    case DType::Q4_0: detail::dequantize_q4_0(src, dst, c.blocks); break;
    case DType::Q8_0: detail::dequantize_q8_0(src, dst, c.blocks); break;
    case DType::Q4_K: detail::dequantize_q4_k(src, dst, c.blocks); break;
    case DType::Q5_K: detail::dequantize_q5_k(src, dst, c.blocks); break;
    case DType::Q6_K: detail::dequantize_q6_k(src, dst, c.blocks); break;
    case DType::Q8_K: detail::dequantize_q8_k(src, dst, c.blocks); break;
    default: return KernelStatus::kUnsupportedType;
  }
  return KernelStatus::kOk;
}

KernelStatus quantize_row(DType t, const float* src, void* dst, int64_t n, const float* importance) {
  const BlockCount c = block_count(t, n);
  if (c.status != KernelStatus::kOk || n == 0) return c.status;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
    case DType::F16: to_16bit(src, dst, n, fp32_to_fp16); break;
    case DType::BF16: to_16bit(src, dst, n, fp32_to_bf16); break;
    case DType::Q4_0: detail::quantize_q4_0(src, dst, c.blocks, importance); break;
    case DType::Q8_0: detail::quantize_q8_0(src, dst, c.blocks); break;
    case DType::Q4_K: detail::quantize_q4_k(src, dst, c.blocks, importance); break;
    case DType::Q5_K: detail::quantize_q5_k(src, dst, c.blocks, importance); break;
    case DType::Q6_K: detail::quantize_q6_k(src, dst, c.blocks, importance); break;
    case DType::Q8_K: detail::quantize_q8_k(src, dst, c.blocks); break;
    default: return KernelStatus::kUnsupportedType;
  }
  return KernelStatus::kOk;
}

}  // namespace hearth::kernels::cpu
