#pragma once
// Host-side argument checks shared by the quantized matrix kernels (quant_matmul.h). Every size
// may come from a model file, so the checks use overflow-safe arithmetic.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cuda/quant_matmul.h"

namespace hearth::kernels::cuda::detail {

// The weight types the CUDA kernels compute with (Q8_K is for activations only).
constexpr bool is_weight_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_0: case DType::Q8_0:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return true;
    default: return false;
  }
}

// Bytes of one stored row, or 0 when (type, cols) is not a valid matrix shape.
inline uint64_t checked_row_bytes(DType t, int64_t cols) {
  if (!is_weight_type(t) || cols < 0) return 0;
  const auto b = row_bytes(t, static_cast<uint64_t>(cols));
  return b ? *b : 0;
}

// cudaSuccess when w describes a valid matrix, x/y are usable for m rows (x, y 4-byte aligned;
// the fast paths also want 16-byte aligned x, which cudaMalloc gives).
inline cudaError_t check_product_args(const QuantWeights& w, const float* x, int64_t m, const float* y) {
  if (!is_weight_type(w.type) || w.rows < 0 || w.cols < 0 || m < 0) return cudaErrorInvalidValue;
  if (w.cols > 0 && checked_row_bytes(w.type, w.cols) == 0) return cudaErrorInvalidValue;
  uint64_t total = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(w.rows), checked_row_bytes(w.type, w.cols), &total)) {
    return cudaErrorInvalidValue;
  }
  int64_t elems = 0;
  if (__builtin_mul_overflow(m, w.cols, &elems) || __builtin_mul_overflow(m, w.rows, &elems)) return cudaErrorInvalidValue;
  if (m > 0 && w.rows > 0 && (x == nullptr || y == nullptr || (w.cols > 0 && w.data == nullptr))) {
    return cudaErrorInvalidValue;
  }
  if ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) % 4 != 0) return cudaErrorMisalignedAddress;
  return cudaSuccess;
}

}  // namespace hearth::kernels::cuda::detail
