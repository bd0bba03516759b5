// Integer-path matvec kernels for Q6_K weights (quant_matvec_q8.cuh, quant_dot_q8.cuh).
#include "kernels/cuda/quant_matvec_q8_launch.cuh"

namespace hearth::kernels::cuda::detail {

cudaError_t launch_matvec_q6_k(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                             int variant, cudaStream_t stream) {
  return launch_q8<DType::Q6_K>(w, rows, cols, x, m, y, variant, stream);
}

}  // namespace hearth::kernels::cuda::detail
