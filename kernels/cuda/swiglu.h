#pragma once
// SwiGLU activation on the GPU: gate[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + exp(-x)).
#include <cuda_runtime_api.h>

#include "kernels/cuda/q8_form.h"

#include <cstdint>

namespace hearth::kernels::cuda {

// gate, up: device float32, n elements ([rows, n_ff] flattened); the result replaces gate.
cudaError_t silu_mul(float* gate, const float* up, int64_t n, cudaStream_t stream);

// The same over the output of one fused gate+up product: gate_up [rows, 2 * n_ff] holds each
// row's gate in columns 0 .. n_ff - 1 and its up in n_ff .. 2 n_ff - 1; out: [rows, n_ff].
cudaError_t silu_mul_halves(const float* gate_up, float* out, int64_t rows, int64_t n_ff, cudaStream_t stream);

// silu_mul_halves that also writes out in the int8 form the quantized matvec reads (quant_matmul.h,
// q8_input_bytes(rows, n_ff) bytes at q8, 16-byte aligned; n_ff a multiple of 32, of 256 for
// kSuper256) in `form` (q8_form.h), so the down product needs no quantization launch.
// q8 = nullptr: as silu_mul_halves.
cudaError_t silu_mul_halves_q8(const float* gate_up, float* out, int64_t rows, int64_t n_ff, void* q8,
                               cudaStream_t stream, Q8Form form = Q8Form::kBlock32);

}  // namespace hearth::kernels::cuda
