#pragma once
// Row-wise RMSNorm on the GPU (float32 activations). Host-callable from plain C++; kernels take
// raw device pointers, sizes and a stream and return an error code (never throw or abort).
#include <cuda_runtime_api.h>

#include "kernels/cuda/q8_form.h"

#include <cstdint>

namespace hearth::kernels::cuda {

// y[r, i] = x[r, i] / sqrt(mean(x[r]^2) + eps) * w[i]      x, y: [rows, n], w: [n]
// The sum of squares is accumulated in double, as the CPU kernel does. x and y may alias.
// row_index (device, optional): when set, output row r normalizes input row row_index[r].
cudaError_t rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps,
                     cudaStream_t stream, const int32_t* row_index = nullptr);

// Residual add fused with the next norm: x += delta, then y = rms_norm(x) * w.   [rows, n]
// delta and y may alias (each element is read before it is written, by the same thread).
cudaError_t residual_rms_norm(float* x, const float* delta, const float* w, float* y, int64_t rows, int64_t n,
                              float eps, cudaStream_t stream);

// The same two, also writing y in the int8 form the quantized matvec reads (quant_matmul.h,
// q8_input_bytes(rows, n) bytes at q8, 16-byte aligned; n a multiple of 32, of 256 for
// kSuper256) in `form` (q8_form.h: that of the products' weight type), so the products that
// follow need no quantization launch of their own. q8 = nullptr: as the plain versions.
cudaError_t rms_norm_q8(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps, void* q8,
                        cudaStream_t stream, Q8Form form = Q8Form::kBlock32);
cudaError_t residual_rms_norm_q8(float* x, const float* delta, const float* w, float* y, int64_t rows, int64_t n,
                                 float eps, void* q8, cudaStream_t stream, Q8Form form = Q8Form::kBlock32);

}  // namespace hearth::kernels::cuda
