#pragma once
// Internal: products over weights in repack_weights()'s layout (quant_repack.cu).
#include <cuda_runtime_api.h>

#include "kernels/cuda/quant_matmul.h"

namespace hearth::kernels::cuda::detail {

// y[m, rows] = x[m, cols] . W^T for w.repacked == true; arguments already checked by the caller.
cudaError_t repacked_matvec(const QuantWeights& w, const float* x, int m, float* y, cudaStream_t stream);

}  // namespace hearth::kernels::cuda::detail
