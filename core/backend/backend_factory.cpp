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
    const CudaProbe probe = probe_cuda();
    // The CUDA compute path is not part of this build's engine yet: say so plainly rather than
    // pretending. `auto` falls back to the CPU with the reason; an explicit `cuda` is an error.
    const std::string why = probe.device_count > 0
                                ? "found " + probe.first_device_name + ", but this build has no CUDA compute path yet"
                                : probe.message;
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
