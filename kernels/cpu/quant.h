#pragma once
// Conversion between float32 and the stored element types (reference, scalar; used at load time,
// by `hearth-cli quantize`/`synth`, and as the reference in kernel tests).
#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cpu/kernel_status.h"

namespace hearth::kernels::cpu {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);    // round to nearest even; overflow to inf
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);    // round to nearest even; NaN stays NaN

// dst[0..n) = the n elements stored in src (a row of type t). n must be a whole number of blocks.
KernelStatus dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Quantizes n floats into row_bytes(t, n) bytes at dst. Searches for the scales that minimise
// the (optionally importance-weighted) squared error, as a good GGUF quantizer does.
// Valid for every stored type and for Q8_K. `importance` may be null (uniform weights).
KernelStatus quantize_row(DType t, const float* src, void* dst, int64_t n, const float* importance = nullptr);

}  // namespace hearth::kernels::cpu
