#include "core/backend/cuda/cuda_probe.h"

#include <filesystem>
#include <fstream>

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

std::string nvidia_gpu_name_without_cuda() {
  std::error_code ec;
  const std::filesystem::path gpus = "/proc/driver/nvidia/gpus";
  for (const auto& entry : std::filesystem::directory_iterator(gpus, ec)) {
    std::ifstream info(entry.path() / "information");
    std::string line;
    while (std::getline(info, line)) {
      // "Model: \t\t NVIDIA H100 80GB HBM3"
      if (line.rfind("Model:", 0) == 0) {
        const auto start = line.find_first_not_of(" \t", 6);
        if (start != std::string::npos) return line.substr(start);
      }
    }
  }
  return {};
}

}  // namespace hearth
