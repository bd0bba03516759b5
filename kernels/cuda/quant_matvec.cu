// quant_matvec (quant_matmul.h): checks, then the float path (F32/F16/BF16: one fused launch) or
// the integer path (quantized types: activations to int8, then one fused dp4a launch) chosen by
// weight type and the number of activation rows.
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/chained_launch.cuh"
#include "kernels/cuda/q8_activation_block.cuh"
#include "kernels/cuda/quant_checks.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/quant_matvec_float.cuh"
#include "kernels/cuda/quant_matvec_launch.h"
#include "kernels/cuda/quant_repack.h"

namespace hearth::kernels::cuda {
namespace {

using detail::kFloatMatvecWarps;

template <DType T, int kMaxM>
cudaError_t launch_float(const QuantWeights& w, int64_t row_bytes, const float* x, int m, float* y, cudaStream_t s) {
  const auto blocks = static_cast<unsigned>((w.rows + kFloatMatvecWarps - 1) / kFloatMatvecWarps);
  detail::matvec_float_kernel<T, kMaxM><<<blocks, 32 * kFloatMatvecWarps, 0, s>>>(
      static_cast<const uint8_t*>(w.data), row_bytes, w.rows, w.cols, x, m, y);
  return cudaGetLastError();
}

template <DType T>
cudaError_t launch_float_by_m(const QuantWeights& w, int64_t row_bytes, const float* x, int m, float* y, cudaStream_t s) {
  if (m <= 1) return launch_float<T, 1>(w, row_bytes, x, m, y, s);
  if (m <= 2) return launch_float<T, 2>(w, row_bytes, x, m, y, s);
  if (m <= 4) return launch_float<T, 4>(w, row_bytes, x, m, y, s);
  if (m <= 8) return launch_float<T, 8>(w, row_bytes, x, m, y, s);
  return launch_float<T, 16>(w, row_bytes, x, m, y, s);
}

template <DType T>
cudaError_t launch_float_scalar(const QuantWeights& w, int64_t row_bytes, const float* x, int m, float* y, cudaStream_t s) {
  const auto blocks = static_cast<unsigned>((w.rows + kFloatMatvecWarps - 1) / kFloatMatvecWarps);
  detail::matvec_float_scalar_kernel<T><<<blocks, 32 * kFloatMatvecWarps, 0, s>>>(
      static_cast<const uint8_t*>(w.data), row_bytes, w.rows, w.cols, x, m, y);
  return cudaGetLastError();
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Q4_K / Q5_K blocks are read as 16-byte vectors (their rows are multiples of 16 bytes), the
// others through 16-byte copies when the rows allow it, else as 2-byte words.
cudaError_t check_weight_alignment(const QuantWeights& w) {
  const bool vector_blocks = w.type == DType::Q4_K || w.type == DType::Q5_K;
  return reinterpret_cast<uintptr_t>(w.data) % (vector_blocks ? 16 : 2) != 0 ? cudaErrorMisalignedAddress : cudaSuccess;
}

bool uses_q8_path(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16 && detail::is_weight_type(t); }

// F32 / F16 / BF16 weights: float FMA, no workspace; up to 16 activation rows per launch.
cudaError_t float_matvec16(const QuantWeights& w, const float* x, int m, float* y, cudaStream_t stream) {
  const auto rb = static_cast<int64_t>(detail::checked_row_bytes(w.type, w.cols));
  const bool vec_ok = aligned16(x) && aligned16(w.data) && w.cols % 8 == 0;
  switch (w.type) {
    case DType::F32: return vec_ok ? launch_float_by_m<DType::F32>(w, rb, x, m, y, stream)
                                   : launch_float_scalar<DType::F32>(w, rb, x, m, y, stream);
    case DType::F16: return vec_ok ? launch_float_by_m<DType::F16>(w, rb, x, m, y, stream)
                                   : launch_float_scalar<DType::F16>(w, rb, x, m, y, stream);
    case DType::BF16: return vec_ok ? launch_float_by_m<DType::BF16>(w, rb, x, m, y, stream)
                                    : launch_float_scalar<DType::BF16>(w, rb, x, m, y, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t float_matvec(const QuantWeights& w, const float* x, int m, float* y, cudaStream_t stream) {
  for (int r = 0; r < m; r += 16) {
    const int n = std::min(16, m - r);
    if (const cudaError_t e = float_matvec16(w, x + static_cast<int64_t>(r) * w.cols, n, y + static_cast<int64_t>(r) * w.rows, stream);
        e != cudaSuccess) {
      return e;
    }
  }
  return cudaSuccess;
}

// The integer kernel of the type over activations already in the int8 form.
cudaError_t q8_matvec_prequantized(const QuantWeights& w, detail::Q8Activations qa, int m, float* y, int variant,
                                   cudaStream_t stream) {
  qa.programmatic_launch = detail::device_has_programmatic_launch();
  switch (w.type) {
    case DType::Q4_0: return detail::launch_matvec_q4_0(w.data, w.rows, w.cols, qa, m, y, variant, stream);
    case DType::Q8_0: return detail::launch_matvec_q8_0(w.data, w.rows, w.cols, qa, m, y, variant, stream);
    case DType::Q4_K: return detail::launch_matvec_q4_k(w.data, w.rows, w.cols, qa, m, y, variant, stream);
    case DType::Q5_K: return detail::launch_matvec_q5_k(w.data, w.rows, w.cols, qa, m, y, variant, stream);
    case DType::Q6_K: return detail::launch_matvec_q6_k(w.data, w.rows, w.cols, qa, m, y, variant, stream);
    default: return cudaErrorInvalidValue;
  }
}

// Quantized weights: x -> int8 in the workspace, then the integer kernel of the type.
cudaError_t q8_matvec(const QuantWeights& w, const float* x, int m, float* y, void* workspace, int variant,
                      cudaStream_t stream) {
  detail::Q8Activations qa{};
  if (const cudaError_t e = detail::quantize_activations(x, m, w.cols, q8_form(w.type), workspace, &qa, stream);
      e != cudaSuccess) {
    return e;
  }
  return q8_matvec_prequantized(w, qa, m, y, variant, stream);
}

}  // namespace

size_t q8_input_bytes(int64_t m, int64_t cols) {
  if (m <= 0 || cols <= 0) return 0;
  return detail::q8_activation_bytes(m, cols);
}

cudaError_t quantize_q8_input(const float* x, int64_t m, int64_t cols, void* q8, cudaStream_t stream) {
  return quantize_q8_input(x, m, cols, q8, Q8Form::kBlock32, stream);
}

cudaError_t quantize_q8_input(const float* x, int64_t m, int64_t cols, void* q8, Q8Form form, cudaStream_t stream) {
  if (m < 0 || cols < 0 || cols % (form == Q8Form::kSuper256 ? 256 : 32) != 0 || m > (int64_t{1} << 40) / std::max<int64_t>(cols, 1)) {
    return cudaErrorInvalidValue;
  }
  if (m == 0 || cols == 0) return cudaSuccess;
  if (x == nullptr || q8 == nullptr || !aligned16(q8) || reinterpret_cast<uintptr_t>(x) % 4 != 0) {
    return cudaErrorInvalidValue;
  }
  detail::Q8Activations qa{};
  return detail::quantize_activations(x, m, cols, form, q8, &qa, stream);
}

bool takes_q8_input(const QuantWeights& w) { return uses_q8_path(w.type) && !w.repacked; }

cudaError_t quant_matvec_q8_input(const QuantWeights& w, const void* q8, int64_t m, float* y, cudaStream_t stream) {
  // check_product_args wants a float x pointer; the q8 input stands in for it (alignment only).
  if (const cudaError_t e = detail::check_product_args(w, static_cast<const float*>(q8), m, y); e != cudaSuccess) {
    return e;
  }
  if (m < 1 || m > kMaxMatvecRows || !takes_q8_input(w) || q8 == nullptr || !aligned16(q8)) return cudaErrorInvalidValue;
  if (w.rows == 0) return cudaSuccess;
  if (w.cols == 0) return cudaMemsetAsync(y, 0, static_cast<size_t>(m * w.rows) * sizeof(float), stream);
  if (const cudaError_t e = check_weight_alignment(w); e != cudaSuccess) return e;
  const auto view = detail::q8_input_view(const_cast<void*>(q8), static_cast<size_t>(m * w.cols));
  detail::Q8Activations qa{view.qx, view.dsx, false};
  return q8_matvec_prequantized(w, qa, static_cast<int>(m), y, 0, stream);
}

size_t matvec_workspace_bytes(const QuantWeights& w, int64_t m) {
  if (!uses_q8_path(w.type) || m <= 0 || w.cols <= 0) return 0;
  return detail::q8_activation_bytes(std::min<int64_t>(m, kMaxMatvecRows), w.cols);
}

cudaError_t quant_matvec(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                         cudaStream_t stream) {
  if (const cudaError_t e = detail::check_product_args(w, x, m, y); e != cudaSuccess) return e;
  if (m > kMaxMatvecRows) return cudaErrorInvalidValue;
  if (m == 0 || w.rows == 0) return cudaSuccess;
  if (w.cols == 0) return cudaMemsetAsync(y, 0, static_cast<size_t>(m * w.rows) * sizeof(float), stream);
  if (w.repacked) return detail::repacked_matvec(w, x, static_cast<int>(m), y, stream);
  const int mi = static_cast<int>(m);
  if (!uses_q8_path(w.type)) return float_matvec(w, x, mi, y, stream);
  if (!aligned16(workspace)) return cudaErrorMisalignedAddress;
  if (const cudaError_t e = check_weight_alignment(w); e != cudaSuccess) return e;
  if (workspace != nullptr) return q8_matvec(w, x, mi, y, workspace, 0, stream);
  void* ws = nullptr;
  if (const cudaError_t e = cudaMallocAsync(&ws, matvec_workspace_bytes(w, m), stream); e != cudaSuccess) return e;
  const cudaError_t e = q8_matvec(w, x, mi, y, ws, 0, stream);
  const cudaError_t f = cudaFreeAsync(ws, stream);
  return e != cudaSuccess ? e : f;
}

cudaError_t quant_matvec(const QuantWeights& w, const float* x, int64_t m, float* y, cudaStream_t stream) {
  return quant_matvec(w, x, m, y, nullptr, stream);
}

namespace detail {
cudaError_t quant_matvec_tuned(const QuantWeights& w, const float* x, int64_t m, float* y, void* workspace,
                               int variant, cudaStream_t stream) {
  if (const cudaError_t e = check_product_args(w, x, m, y); e != cudaSuccess) return e;
  if (m < 1 || m > kMaxMatvecRows || w.rows == 0 || w.cols == 0 || w.repacked || !uses_q8_path(w.type) || workspace == nullptr) {
    return cudaErrorInvalidValue;
  }
  return q8_matvec(w, x, static_cast<int>(m), y, workspace, variant, stream);
}
}  // namespace detail

}  // namespace hearth::kernels::cuda
