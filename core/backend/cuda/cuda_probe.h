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

// Initializes the CUDA runtime in this process (driver threads, device enumeration). Call it only
// where CUDA will be used: on the GPU machine a process that initialized CUDA and then ran all-core
// CPU compute crashed or hung in about 1 run in 15 (driver threads competing with spinning
// workers), while the same runs without the initialization never failed.
CudaProbe probe_cuda();

// Whether the NVIDIA kernel driver reports a GPU, and its name, read from the driver's files
// (/proc/driver/nvidia/gpus/*/information on Linux) without loading or initializing CUDA.
// Empty where there is none or the platform has no such files.
std::string nvidia_gpu_name_without_cuda();

}  // namespace hearth
