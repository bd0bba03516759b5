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
// rows x cols: the fastest on the matrices of llama-3.1-8b / 3.2-1b on an H200
// (hearth-cuda-kernel-bench --tune, 2026-11-27 19:19) among those of one family.
// Batch invariance (speculative decoding, issue 6): the family -- 128-thread groups (> 0) or warps
// (< 0) -- fixes the order of every output's reduction (the rows per group do not change it), so
// the family depends only on the matrix, never on m: each output row gets the same bits whatever
// the number of rows in the batch. Warps for matrices whose rows hold fewer than 16 super-blocks
// of Q4_K / Q5_K (a 128-thread group would leave lanes idle) once there are enough rows to fill
// the device, and for the huge output matrix.
constexpr bool matvec_uses_warps(DType t, int64_t rows, int64_t cols) {
  if (rows >= 32768) return true;
  const bool k_asym = t == DType::Q4_K || t == DType::Q5_K;
  return k_asym && cols / 256 < 16 && rows >= 4096;
}
constexpr int default_matvec_variant(DType t, int m, int64_t rows, int64_t cols) {
  if (matvec_uses_warps(t, rows, cols)) return (m <= 4 || m > 8 || rows >= 32768) ? -4 : -2;
  switch (t) {
    case DType::Q4_K:
    case DType::Q5_K: return m <= 4 ? 4 : 8;
    case DType::Q6_K: return m <= 4 ? 8 : m <= 8 ? 4 : 8;
    case DType::Q4_0: return m <= 1 ? (rows <= 2048 ? 2 : 4) : m <= 8 ? 4 : 8;
    default: return m <= 1 ? (rows <= 2048 ? 2 : 4) : m <= 8 ? 4 : 8;  // Q8_0
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
