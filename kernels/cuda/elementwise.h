#pragma once
// Small element-wise operations of the transformer block on the GPU (float32). Host-callable;
// raw device pointers, a stream, an error code back.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace hearth::kernels::cuda {

// y[r, i] += bias[i]        y: [rows, n], bias: [n]   (Qwen2's Q/K/V biases)
cudaError_t add_bias_rows(float* y, const float* bias, int64_t rows, int64_t n, cudaStream_t stream);

// dst[r, c] = src[r, col0 + c] for c < width      src: [rows, src_cols], dst: [rows, width]
// (splits the output of a fused Q/K/V product into its parts)
cudaError_t copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col0, int64_t width, float* dst,
                         cudaStream_t stream);

// y[i] += x[i]              n elements
cudaError_t add_inplace(float* y, const float* x, int64_t n, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
