// repack_weights (quant_matmul.h). No type has a repacked layout yet: every type is used as
// stored, repacked_bytes() is 0 and repack_weights / repacked matrices are rejected.
#include "kernels/cuda/quant_checks.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/quant_repack.h"

namespace hearth::kernels::cuda {

size_t repacked_bytes(DType type, int64_t rows, int64_t cols) { return 0; }

cudaError_t repack_weights(DType type, const void* src, void* dst, int64_t rows, int64_t cols, cudaStream_t stream) {
  return cudaErrorInvalidValue;
}

namespace detail {
cudaError_t repacked_matvec(const QuantWeights& w, const float* x, int m, float* y, cudaStream_t stream) {
  return cudaErrorInvalidValue;
}
}  // namespace detail

}  // namespace hearth::kernels::cuda
