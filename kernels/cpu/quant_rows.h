#pragma once
// Per-type row converters behind dequantize_row / quantize_row (internal to kernels/cpu).
// Preconditions, checked by the dispatcher in quant.cpp: n_blocks >= 0, buffers hold
// n_blocks whole blocks. Pointers need no alignment: blocks are copied with memcpy.
// `importance` may be null (uniform weights) and otherwise has one weight per element.
#include <cstdint>

namespace hearth::kernels::cpu::detail {

void dequantize_q4_0(const void* src, float* dst, int64_t n_blocks);
void dequantize_q8_0(const void* src, float* dst, int64_t n_blocks);
void quantize_q4_0(const float* src, void* dst, int64_t n_blocks, const float* importance);
void quantize_q8_0(const float* src, void* dst, int64_t n_blocks);

void dequantize_q4_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q5_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q6_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q8_k(const void* src, float* dst, int64_t n_blocks);
void quantize_q4_k(const float* src, void* dst, int64_t n_blocks, const float* importance);
void quantize_q5_k(const float* src, void* dst, int64_t n_blocks, const float* importance);
void quantize_q6_k(const float* src, void* dst, int64_t n_blocks, const float* importance);
void quantize_q8_k(const float* src, void* dst, int64_t n_blocks);

}  // namespace hearth::kernels::cpu::detail
