#include "core/backend/cuda/nvml_device.h"

#include <dlfcn.h>

namespace hearth {

namespace {

// nvmlMemory_t: three unsigned long long in this order (nvml.h).
struct NvmlMemoryV1 {
  unsigned long long total, free, used;
};

template <typename Fn>
Fn symbol(void* library, const char* name) {
  return reinterpret_cast<Fn>(dlsym(library, name));
}

}  // namespace

NvmlDevice::NvmlDevice(unsigned index) {
  library_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library_) {
    why_ = "libnvidia-ml.so.1 not found";
    return;
  }
  auto init = symbol<int (*)()>(library_, "nvmlInit_v2");
  auto handle_by_index = symbol<int (*)(unsigned, void**)>(library_, "nvmlDeviceGetHandleByIndex_v2");
  shutdown_ = symbol<int (*)()>(library_, "nvmlShutdown");
  energy_ = symbol<int (*)(void*, unsigned long long*)>(library_, "nvmlDeviceGetTotalEnergyConsumption");
  memory_ = symbol<int (*)(void*, void*)>(library_, "nvmlDeviceGetMemoryInfo");
  if (!init || !handle_by_index || !shutdown_) {
    why_ = "libnvidia-ml.so.1 lacks the NVML entry points";
    return;
  }
  if (init() != 0) {
    why_ = "nvmlInit failed";
    shutdown_ = nullptr;
    return;
  }
  void* device = nullptr;
  if (handle_by_index(index, &device) != 0 || !device) {
    why_ = "NVML found no device " + std::to_string(index);
    return;
  }
  device_ = device;
}

NvmlDevice::~NvmlDevice() {
  if (shutdown_) (void)shutdown_();
  if (library_) dlclose(library_);
}

std::optional<double> NvmlDevice::total_energy_joules() const {
  unsigned long long millijoules = 0;
  if (!device_ || !energy_ || energy_(device_, &millijoules) != 0) return std::nullopt;
  return static_cast<double>(millijoules) / 1000.0;
}

std::optional<NvmlDevice::Memory> NvmlDevice::memory() const {
  NvmlMemoryV1 m{};
  if (!device_ || !memory_ || memory_(device_, &m) != 0) return std::nullopt;
  return Memory{m.total, m.free, m.used};
}

}  // namespace hearth
