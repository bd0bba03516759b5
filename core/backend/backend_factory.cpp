#include "core/backend/backend_factory.h"

#include <fmt/format.h>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/backend/cuda/nvml_device.h"
#include "core/common/error.h"

namespace hearth {

BackendChoice create_backend(const LoadedModel& model, const BackendOptions& options) {
  if (options.device != "auto" && options.device != "cpu" && options.device != "cuda") {
    throw Error("unknown device '" + options.device + "' (use auto, cpu or cuda)");
  }
  BackendChoice choice;
  if (options.device != "cpu") {
    // CUDA when a GPU is there, this build has CUDA and the model fits; else the CPU with the
    // reason (`auto`) or an error (`cuda`). The GPU and its free memory are looked up without
    // initializing CUDA (driver files, NVML), so a CPU-only run never starts the CUDA runtime
    // (see probe_cuda()). [CUDA branch: helper cudabackend]
    const std::string gpu = nvidia_gpu_name_without_cuda();
    std::string why;
    if (gpu.empty()) {
      why = "no NVIDIA GPU found";
    } else if (!cuda_backend_compiled()) {
      why = "found " + gpu + ", but this build of Hearth has no CUDA support";
    } else {
      CudaBackendOptions cuda;
      cuda.context_size = options.context_size;
      cuda.kv_blocks = options.kv_blocks;
      cuda.block_tokens = options.kv_block_tokens;
      cuda.max_batch = options.max_batch;
      const CudaMemoryEstimate need = estimate_cuda_memory(model.config(), model.weights(), cuda);
      const NvmlDevice nvml(0);
      const auto memory = nvml.memory();
      if (memory && need.total() > memory->free) {
        why = fmt::format("found {}, but the model needs about {:.2f} GiB of GPU memory and {:.2f} GiB are free", gpu,
                          double(need.total()) / double(1ull << 30), double(memory->free) / double(1ull << 30));
      } else {
        try {
          choice.backend = create_cuda_backend(model.config(), model.weights(), cuda);
          choice.reason = "running on " + gpu;
          return choice;
        } catch (const Error& e) {
          why = e.what();
        }
      }
    }
    if (options.device == "cuda") throw Error("cannot use --device cuda: " + why);
    choice.reason = "running on the CPU: " + why;
  } else {
    choice.reason = "running on the CPU as requested";
  }
  CpuBackendOptions cpu;
  cpu.n_threads = options.n_threads;
  cpu.context_size = options.context_size;
  cpu.resident_weights = !options.mmap_weights;
  cpu.kv_blocks = options.kv_blocks;
  cpu.kv_block_tokens = options.kv_block_tokens;
  cpu.max_batch = options.max_batch;
  choice.backend = std::make_unique<CpuBackend>(model.config(), model.weights(), cpu);
  return choice;
}

}  // namespace hearth
