#pragma once
// Chooses and builds the backend for a model: --device auto|cpu|cuda.
#include <memory>
#include <string>

#include "core/backend/backend.h"
#include "core/model/loaded_model.h"

namespace hearth {

struct BackendOptions {
  std::string device = "auto";  // auto, cpu, cuda
  int n_threads = 0;            // CPU threads; 0 = all
  int64_t context_size = 0;     // 0 = model default (capped)
  bool mmap_weights = false;    // CPU: read weights through the file mapping instead of a huge-page copy
};

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  std::string reason;  // why this device: "cuda: no NVIDIA device found, running on the CPU"
};

// Throws hearth::Error for an unknown device name or a device that cannot be used.
BackendChoice create_backend(const LoadedModel& model, const BackendOptions& options);

}  // namespace hearth
