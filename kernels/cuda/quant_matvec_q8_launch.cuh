#pragma once
// Template behind the per-type launchers of quant_matvec_launch.h: picks the kernel instance for
// (max m, rows per block) and launches it.
#include <cuda_runtime.h>

#include "kernels/cuda/quant_matvec_launch.h"
#include "kernels/cuda/quant_matvec_q8.cuh"

namespace hearth::kernels::cuda::detail {

template <DType T, int kMaxM, int kRows, int kGroup>
cudaError_t launch_q8_instance(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                               cudaStream_t s) {
  using D = Q8Dot<T>;
  const int64_t blocks_per_row = cols / D::kBlockElems;
  constexpr int64_t kRowsPerBlock = int64_t{kRows} * (kQ8MatvecThreads / kGroup);
  const auto grid = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  // Launched as a programmatic dependent of the activation quantization (sm_90+): the weight
  // loads of the first step overlap that kernel and the launch latency.
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(grid);
  config.blockDim = dim3(kQ8MatvecThreads);
  config.stream = s;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  if (x.programmatic_launch) {
    config.attrs = &attribute;
    config.numAttrs = 1;
  }
  return cudaLaunchKernelEx(&config, matvec_q8_kernel<T, kMaxM, kRows, kGroup>, static_cast<const uint8_t*>(w),
                            blocks_per_row * D::kBlockBytes, rows, blocks_per_row, x.qx,
                            static_cast<const float2*>(x.dsx), cols, m, y);
}

template <DType T, int kRows, int kGroup>
cudaError_t launch_q8_rows(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                           cudaStream_t s) {
  if (m <= 1) return launch_q8_instance<T, 1, kRows, kGroup>(w, rows, cols, x, m, y, s);
  if (m <= 2) return launch_q8_instance<T, 2, kRows, kGroup>(w, rows, cols, x, m, y, s);
  if (m <= 4) return launch_q8_instance<T, 4, kRows, kGroup>(w, rows, cols, x, m, y, s);
  if (m <= 8) return launch_q8_instance<T, 8, kRows, kGroup>(w, rows, cols, x, m, y, s);
  return launch_q8_instance<T, 16, kRows, kGroup>(w, rows, cols, x, m, y, s);
}

// variant: rows_per_block 1, 2, 4, 8 (128-thread groups) or -1, -2, -4 (warp groups, that many
// rows per warp); 0 = the default for the type and m.
template <DType T>
cudaError_t launch_q8(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                      int variant, cudaStream_t s) {
  if (variant == 0) variant = default_matvec_variant(T, m, rows, cols);
  switch (variant) {
    case 1: return launch_q8_rows<T, 1, kQ8MatvecThreads>(w, rows, cols, x, m, y, s);
    case 2: return launch_q8_rows<T, 2, kQ8MatvecThreads>(w, rows, cols, x, m, y, s);
    case 4: return launch_q8_rows<T, 4, kQ8MatvecThreads>(w, rows, cols, x, m, y, s);
    case 8: return launch_q8_rows<T, 8, kQ8MatvecThreads>(w, rows, cols, x, m, y, s);
    case -1: return launch_q8_rows<T, 1, 32>(w, rows, cols, x, m, y, s);
    case -2: return launch_q8_rows<T, 2, 32>(w, rows, cols, x, m, y, s);
    case -4: return launch_q8_rows<T, 4, 32>(w, rows, cols, x, m, y, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace hearth::kernels::cuda::detail
