#include "core/backend/backend_factory.h"

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/common/error.h"

namespace hearth {

BackendChoice create_backend(const LoadedModel& model, const BackendOptions& options) {
  if (options.device != "auto" && options.device != "cpu" && options.device != "cuda") {
    throw Error("unknown device '" + options.device + "' (use auto, cpu or cuda)");
  }
  BackendChoice choice;
  if (options.device != "cpu") {
    // There is no CUDA compute path in this version yet: say so plainly rather than pretending.
    // `auto` falls back to the CPU with the reason; an explicit `cuda` is an error. The GPU is
    // looked up without initializing CUDA (see probe_cuda()), since nothing here will use it.
    const std::string gpu = nvidia_gpu_name_without_cuda();
    const std::string why = gpu.empty() ? "no NVIDIA GPU found" : "found " + gpu + ", but this version has no CUDA compute path yet";
    if (options.device == "cuda") throw Error("cannot use --device cuda: " + why);
    choice.reason = "running on the CPU: " + why;
  } else {
    choice.reason = "running on the CPU as requested";
  }
  CpuBackendOptions cpu;
  cpu.n_threads = options.n_threads;
  cpu.context_size = options.context_size;
  cpu.resident_weights = !options.mmap_weights;
  choice.backend = std::make_unique<CpuBackend>(model.config(), model.weights(), cpu);
  return choice;
}

}  // namespace hearth
