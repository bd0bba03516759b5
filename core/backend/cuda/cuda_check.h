#pragma once
// CUDA/cuBLAS status -> hearth::Error. Host side only (core/backend/cuda): kernels return codes,
// the backend turns every non-success into an exception naming the operation.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <string_view>

#include "core/common/error.h"

namespace hearth::cuda_detail {

inline void check(cudaError_t status, std::string_view what) {
  if (status != cudaSuccess) {
    throw Error(fmt::format("CUDA error in {}: {} ({})", what, cudaGetErrorString(status), cudaGetErrorName(status)));
  }
}

inline void check(cublasStatus_t status, std::string_view what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(fmt::format("cuBLAS error in {}: {}", what, cublasGetStatusString(status)));
  }
}

}  // namespace hearth::cuda_detail
