#pragma once
// Template behind the per-type launchers of quant_matvec_launch.h: picks the tensor-core matvec
// instance (quant_matvec_mma.cuh) for the number of 8-token n-tiles and launches it.
#include <cuda_runtime.h>

#include "kernels/cuda/quant_matvec_launch.h"
#include "kernels/cuda/quant_matvec_mma.cuh"

namespace hearth::kernels::cuda::detail {

template <DType T, int kNT, int kWarps>
cudaError_t launch_mma_instance(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                                int k_split, cudaStream_t s) {
  using C = MmaChunk<T>;
  const int64_t row_bytes = cols / C::kBlockElems * C::kBlockBytes;
  // 16-byte copies need 16-byte aligned rows; the copy plan holds 32-bit offsets.
  const bool vec = reinterpret_cast<uintptr_t>(w) % 16 == 0 && row_bytes % 16 == 0 &&
                   rows * row_bytes < (int64_t{1} << 32) - 256;
  const int64_t tiles = (rows + 15) / 16;
  const int64_t tiles_per_block = kWarps / k_split;
  const auto grid = static_cast<unsigned>((tiles + tiles_per_block - 1) / tiles_per_block);
  const size_t smem = mma_smem_bytes<T, kNT, kWarps>();
  auto kernel = matvec_mma_kernel<T, kNT, kWarps>;
  if (smem > 48 * 1024) {
    if (const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                   static_cast<int>(smem));
        e != cudaSuccess) {
      return e;
    }
  }
  // Launched as a programmatic dependent of the kernel that wrote the activations (sm_90+): the
  // first weight chunks are in flight before that kernel finishes.
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(grid);
  config.blockDim = dim3(kWarps * 32);
  config.dynamicSmemBytes = smem;
  config.stream = s;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  if (x.programmatic_launch) {
    config.attrs = &attribute;
    config.numAttrs = 1;
  }
  return cudaLaunchKernelEx(&config, kernel, static_cast<const uint8_t*>(w), row_bytes, rows, cols, k_split, vec, x.qx,
                            static_cast<const float2*>(x.dsx), m, y);
}

// variant: 0 = the default k_split for the shape (mma_k_split); 1, 2, 4, 8 = that k_split
// (benchmarks and tests; results then differ in float rounding from the default).
template <DType T>
cudaError_t launch_q8(const void* w, int64_t rows, int64_t cols, const Q8Activations& x, int m, float* y,
                      int variant, cudaStream_t s) {
  // int offsets of activations: m * cols < 2^31
  if (m < 1 || m > 8 * kMmaMaxTiles || cols > (int64_t{1} << 24)) return cudaErrorInvalidValue;
  int k_split = mma_k_split(rows, (cols + 255) / 256);
  if (variant != 0) {
    if (variant != 1 && variant != 2 && variant != 4 && variant != 8) return cudaErrorInvalidValue;
    k_split = variant;
  }
  if (m <= 8) return launch_mma_instance<T, 1, 8>(w, rows, cols, x, m, y, k_split, s);
  if (m <= 16) return launch_mma_instance<T, 2, 8>(w, rows, cols, x, m, y, k_split, s);
  if (m <= 32) return launch_mma_instance<T, 4, 8>(w, rows, cols, x, m, y, k_split, s);
  return launch_mma_instance<T, 8, 8>(w, rows, cols, x, m, y, k_split, s);
}

}  // namespace hearth::kernels::cuda::detail
