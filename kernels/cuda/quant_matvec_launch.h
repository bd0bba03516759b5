#pragma once
// Internal: launchers of the matvec kernels, one translation unit per quantized type
// (quant_matvec_q8_<type>.cu) so they compile in parallel. Arguments are checked by the caller.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/dtype.h"

namespace hearth::kernels::cuda::detail {

// Int8 activations as quantize_activations() writes them into a matvec workspace.
struct Q8Activations {
  const int8_t* qx;   // [m, cols]
  const void* dsx;    // float2 [m, cols / 32]
  bool programmatic_launch;  // the device has programmatic dependent launch (sm_90+)
};

// Workspace layout for m rows of cols columns: qx then dsx, each 256-byte aligned.
size_t q8_activation_bytes(int64_t m, int64_t cols);
cudaError_t quantize_activations(const float* x, int64_t m, int64_t cols, void* workspace, Q8Activations* out,
                                 cudaStream_t stream);

// variant: see default_matvec_variant (0 = the default for the type and m). y[m, rows] = x . W^T.
cudaError_t launch_matvec_q4_0(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                               int variant, cudaStream_t stream);
cudaError_t launch_matvec_q8_0(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                               int variant, cudaStream_t stream);
cudaError_t launch_matvec_q4_k(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                               int variant, cudaStream_t stream);
cudaError_t launch_matvec_q5_k(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                               int variant, cudaStream_t stream);
cudaError_t launch_matvec_q6_k(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                               int variant, cudaStream_t stream);

// The default kernel variant (see launch_q8 in quant_matvec_q8_launch.cuh: > 0 = that many weight
// rows per 128-thread block, < 0 = that many rows per warp) for m activation rows and a matrix of
// `rows` rows: the fastest on the matrices of llama-3.1-8b / 3.2-1b on an H200
// (hearth-cuda-kernel-bench --tune, 2026-11-27). Few thread blocks leave SMs idle in the last
// wave, so small matrices take fewer rows per group; the 128k-row output matrix takes warps.
constexpr int default_matvec_variant(DType t, int m, int64_t rows) {
  const bool huge = rows >= 32768, small = rows <= 2048;
  switch (t) {
    case DType::Q4_K:
      if (m <= 1) return huge ? -4 : small ? 4 : -1;
      if (m <= 8) return huge ? -4 : 4;
      return 8;
    case DType::Q5_K:
      if (m <= 2) return 4;
      if (m <= 8) return huge ? -4 : 4;
      return 8;
    case DType::Q6_K:
      if (m <= 1) return huge ? -4 : 8;
      if (m <= 2) return huge ? -2 : 2;
      if (m <= 4) return 8;
      if (m <= 8) return 4;
      return 8;
    case DType::Q4_0:
      if (m <= 1) return huge ? -2 : small ? 2 : 4;
      if (m <= 2) return 4;
      if (m <= 8) return huge ? 8 : 4;
      return 8;
    default:  // Q8_0
      if (m <= 1) return small ? 2 : 4;
      if (m <= 4) return 4;
      if (m <= 8) return huge ? 8 : 4;
      return 8;
  }
}

}  // namespace hearth::kernels::cuda::detail

namespace hearth::kernels::cuda {
struct QuantWeights;
namespace detail {
// quant_matvec with a chosen kernel variant (default_matvec_variant) for the quantized types:
// for benchmarks and tests.
cudaError_t quant_matvec_tuned(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                               int variant, cudaStream_t stream);
}  // namespace detail
}  // namespace hearth::kernels::cuda
