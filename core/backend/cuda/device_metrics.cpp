#include "core/backend/cuda/device_metrics.h"

#include <algorithm>
#include <vector>

#ifdef HEARTH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace hearth {

#ifdef HEARTH_HAVE_CUDA

std::optional<double> measure_cuda_copy_bandwidth(uint64_t bytes, int repeats) {
  void* a = nullptr;
  void* b = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  std::optional<double> result;
  std::vector<float> ms;
  auto ok = [](cudaError_t e) { return e == cudaSuccess; };
  if (ok(cudaMalloc(&a, bytes)) && ok(cudaMalloc(&b, bytes)) && ok(cudaEventCreate(&start)) &&
      ok(cudaEventCreate(&stop)) && ok(cudaMemset(a, 1, bytes)) && ok(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice))) {
    for (int r = 0; r < repeats; ++r) {
      float t = 0.0f;
      if (!ok(cudaEventRecord(start)) || !ok(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)) ||
          !ok(cudaEventRecord(stop)) || !ok(cudaEventSynchronize(stop)) || !ok(cudaEventElapsedTime(&t, start, stop))) {
        break;
      }
      ms.push_back(t);
    }
  }
  (void)cudaGetLastError();
  if (start) (void)cudaEventDestroy(start);
  if (stop) (void)cudaEventDestroy(stop);
  if (a) (void)cudaFree(a);
  if (b) (void)cudaFree(b);
  if (ms.empty()) return std::nullopt;
  std::sort(ms.begin(), ms.end());
  const double median_ms = ms[ms.size() / 2];
  if (median_ms <= 0.0) return std::nullopt;
  result = 2.0 * static_cast<double>(bytes) / (median_ms * 1e-3);
  return result;
}

std::optional<CudaMemoryInUse> cuda_memory_in_use() {
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) != cudaSuccess) return std::nullopt;
  return CudaMemoryInUse{total - free, total};
}

#else

std::optional<double> measure_cuda_copy_bandwidth(uint64_t, int) { return std::nullopt; }
std::optional<CudaMemoryInUse> cuda_memory_in_use() { return std::nullopt; }

#endif

}  // namespace hearth
