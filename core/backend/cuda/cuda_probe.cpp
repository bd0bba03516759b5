#include "core/backend/cuda/cuda_probe.h"

#ifdef HEARTH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace hearth {

CudaProbe probe_cuda() {
  CudaProbe probe;
#ifdef HEARTH_HAVE_CUDA
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    probe.message = std::string("no usable NVIDIA GPU (") + cudaGetErrorString(err) + ")";
    return probe;
  }
  probe.device_count = count;
  if (count == 0) {
    probe.message = "no NVIDIA GPU found";
    return probe;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    probe.first_device_name = prop.name;
    probe.first_device_memory = prop.totalGlobalMem;
  }
#else
  probe.message = "this build of Hearth has no CUDA support";
#endif
  return probe;
}

}  // namespace hearth
