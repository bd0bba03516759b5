#pragma once
// Internal: launchers of the matvec kernels, one translation unit per quantized type
// (quant_matvec_q8_<type>.cu) so they compile in parallel. Arguments are checked by the caller.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cuda/q8_form.h"

namespace hearth::kernels::cuda::detail {

// Int8 activations as quantize_activations() writes them into a matvec workspace.
struct Q8Activations {
  const int8_t* qx;   // [m, cols]
  const void* dsx;    // float2 [m, cols / 32]
  bool programmatic_launch;  // the device has programmatic dependent launch (sm_90+)
};

// Workspace layout for m rows of cols columns: qx then dsx, each 256-byte aligned.
size_t q8_activation_bytes(int64_t m, int64_t cols);
// x [m, cols] -> the q8 form (q8_form.h) in the workspace; kSuper256 needs cols % 256 == 0.
cudaError_t quantize_activations(const float* x, int64_t m, int64_t cols, Q8Form form, void* workspace,
                                 Q8Activations* out, cudaStream_t stream);

// Tensor-core matvec (quant_matvec_mma.cuh), m = 1 .. 64, x in the form q8_form(type) gives.
// variant: 0 = default; 1, 2, 4, 8 = that k_split (launch_q8). y[m, rows] = x . W^T.
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

}  // namespace hearth::kernels::cuda::detail

namespace hearth::kernels::cuda {
struct QuantWeights;
namespace detail {
// quant_matvec with a chosen kernel variant (launch_q8's k_split) for the quantized types:
// for benchmarks and tests.
cudaError_t quant_matvec_tuned(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                               int variant, cudaStream_t stream);
}  // namespace detail
}  // namespace hearth::kernels::cuda
