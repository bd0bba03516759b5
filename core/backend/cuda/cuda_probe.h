#pragma once
// Whether a usable NVIDIA GPU is present. Safe to call on a machine without the driver: the CUDA
// runtime is linked statically and reports "no driver", which becomes a message, not a crash.
#include <string>

namespace hearth {

struct CudaProbe {
  int device_count = 0;
  std::string first_device_name;
  size_t first_device_memory = 0;  // bytes
  std::string message;             // why there is no device, when device_count == 0
};

CudaProbe probe_cuda();

}  // namespace hearth
