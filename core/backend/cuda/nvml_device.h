#pragma once
// NVIDIA Management Library (NVML), loaded at run time with dlopen("libnvidia-ml.so.1") so that
// Hearth neither links nor needs it: energy counters for `bench` and free device memory for the
// "does the model fit" decision, both without creating a CUDA context. Where the library or the
// device is missing, available() is false and every query returns nullopt.
#include <cstdint>
#include <optional>
#include <string>

namespace hearth {

class NvmlDevice {
 public:
  explicit NvmlDevice(unsigned index = 0);
  ~NvmlDevice();
  NvmlDevice(const NvmlDevice&) = delete;
  NvmlDevice& operator=(const NvmlDevice&) = delete;

  bool available() const { return device_ != nullptr; }
  const std::string& why_unavailable() const { return why_; }

  // Energy used by the GPU since the driver was loaded, in joules (millijoule resolution).
  std::optional<double> total_energy_joules() const;

  struct Memory {
    uint64_t total = 0, free = 0, used = 0;  // bytes
  };
  std::optional<Memory> memory() const;

 private:
  void* library_ = nullptr;
  void* device_ = nullptr;  // nvmlDevice_t
  std::string why_;
  // NVML entry points (C ABI; nvmlReturn_t is an int, NVML_SUCCESS = 0).
  int (*shutdown_)() = nullptr;
  int (*energy_)(void*, unsigned long long*) = nullptr;
  int (*memory_)(void*, void*) = nullptr;
};

}  // namespace hearth
