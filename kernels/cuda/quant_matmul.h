#pragma once
// Matrix products with quantized weights on the GPU. Host-callable from plain C++ (no CUDA
// syntax here). Kernels take raw device pointers, sizes and a stream and return an error code;
// they never throw, exit or abort (DESIGN.md).
//
// Weights: `rows` rows of `cols` elements, each row stored as GGUF blocks of `type` (Q4_0, Q8_0,
// Q4_K, Q5_K, Q6_K, F16, BF16, F32), rows contiguous, or in the repacked device layout produced
// by repack_weights() (QuantWeights::repacked tells which).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cuda/q8_form.h"

typedef struct cublasContext* cublasHandle_t;

namespace hearth::kernels::cuda {

struct QuantWeights {
  DType type = DType::F32;
  const void* data = nullptr;  // device memory
  int64_t rows = 0;            // output features
  int64_t cols = 0;            // input features; a multiple of the type's block size
  bool repacked = false;       // data is in repack_weights()'s layout
};

// Bytes repack_weights needs for a matrix (0 when the type is used as stored; for now that is
// every type: repack_weights and repacked == true are rejected with cudaErrorInvalidValue).
size_t repacked_bytes(DType type, int64_t rows, int64_t cols);
// GGUF layout (device, `src`) -> GPU-friendly layout (device, `dst`, repacked_bytes long).
cudaError_t repack_weights(DType type, const void* src, void* dst, int64_t rows, int64_t cols, cudaStream_t stream);

// The most activation rows of the decode-sized products below.
inline constexpr int64_t kMaxMatvecRows = 64;

// Decode-sized products, m = 1 .. kMaxMatvecRows (64) rows of activations, one fused
// dequantize-and-multiply pass over the weights (the weights are read once for all m rows; the
// quantized types on int8 tensor cores; a row's result is bitwise the same for every m):
//   y[m, rows] = x[m, cols] . W^T      x, y: device float32, row-major
cudaError_t quant_matvec(const QuantWeights& w, const float* x, int64_t m, float* y, cudaStream_t stream);

// The quantized types take an integer path: x is quantized once per call to int8 in the form of
// the type (q8_form.h: the CPU path's Q8_0 or Q8_K integers) in a workspace, then int8 mma.
// The call above allocates that
// workspace stream-ordered (cudaMallocAsync/cudaFreeAsync) each time; pass one to avoid it.
// matvec_workspace_bytes is 0 for F32/F16/BF16 (float path, no workspace); the workspace must be
// 16-byte aligned (cudaMalloc gives 256). x and y need 4-byte alignment.
size_t matvec_workspace_bytes(const QuantWeights& w, int64_t m);
cudaError_t quant_matvec(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                         cudaStream_t stream);

// The int8 activation form itself, for products that share an input or whose producer writes it
// directly (rms_norm_q8, residual_rms_norm_q8, silu_mul_halves_q8): one decode step then
// quantizes each input once, with no launch of its own. Layout for m rows of cols columns
// (cols a multiple of 32): [qx int8: m * cols][dsx float2 (d, d * sum q): m * cols / 32], the second
// part at the first 256-byte boundary after the first; the scales and sums of q8_form.h: the
// products of a matrix read the form q8_form(w.type) (the caller keeps them matched).
// q8_input_bytes: the bytes of that form (= matvec_workspace_bytes of a quantized matrix).
size_t q8_input_bytes(int64_t m, int64_t cols);
// x [m, cols] float -> q8 (device, 16-byte aligned, q8_input_bytes(m, cols) bytes) in `form`
// (kSuper256: cols % 256 == 0); without a form: kBlock32.
cudaError_t quantize_q8_input(const float* x, int64_t m, int64_t cols, void* q8, cudaStream_t stream);
cudaError_t quantize_q8_input(const float* x, int64_t m, int64_t cols, void* q8, Q8Form form, cudaStream_t stream);
// Whether quant_matvec_q8_input takes a matrix of this type (the quantized types, not repacked).
bool takes_q8_input(const QuantWeights& w);
// quant_matvec over an input already in the form q8_form(w.type) (m = 1 .. 64, cols = w.cols): the same kernels
// and the same result, bit for bit, as quant_matvec on the float input.
cudaError_t quant_matvec_q8_input(const QuantWeights& w, const void* q8, int64_t m, float* y, cudaStream_t stream);

// Any m (prefill): m <= kMaxMatvecRows goes to quant_matvec; larger m dequantizes W tile by tile to FP16 in
// `workspace` and multiplies on tensor cores through cuBLAS (FP32 accumulate).
// workspace: device memory of at least gemm_workspace_bytes(w, m) bytes (for m <= 16 that is
// matvec_workspace_bytes(w, m), so sizing it for the largest m serves every call).
size_t gemm_workspace_bytes(const QuantWeights& w, int64_t m);
cudaError_t quant_gemm(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                       cublasHandle_t cublas, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
