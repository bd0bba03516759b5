#include "core/backend/backend_factory.h"

#include <fmt/format.h>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/backend/cuda/nvml_device.h"
#include "core/backend/gpu_layer_fit.h"
#include "core/backend/layer_split_backend.h"
#include "core/common/error.h"

namespace hearth {

namespace {

double gib(uint64_t bytes) { return double(bytes) / double(1ull << 30); }

void check_options(const BackendOptions& options) {
  if (options.device != "auto" && options.device != "cpu" && options.device != "cuda") {
    throw Error("unknown device '" + options.device + "' (use auto, cpu or cuda)");
  }
  if (options.gpu_layers < -1) {
    throw Error(fmt::format("--gpu-layers {} is invalid (use -1 for all layers, 0 for none, or a count)",
                            options.gpu_layers));
  }
  if (options.device == "cpu" && options.gpu_layers > 0) {
    throw Error(fmt::format("--gpu-layers {} asks for the GPU, but --device cpu was given", options.gpu_layers));
  }
  if (options.device == "cuda" && options.gpu_layers == 0) {
    throw Error("--gpu-layers 0 puts no layer on the GPU, but --device cuda was given");
  }
}

CpuBackendOptions cpu_options(const BackendOptions& options) {
  CpuBackendOptions cpu;
  cpu.n_threads = options.n_threads;
  cpu.context_size = options.context_size;
  cpu.resident_weights = !options.mmap_weights;
  cpu.kv_blocks = options.kv_blocks;
  cpu.kv_block_tokens = options.kv_block_tokens;
  cpu.max_batch = options.max_batch;
  return cpu;
}

}  // namespace

BackendChoice create_backend(const LoadedModel& model, const BackendOptions& options) {
  check_options(options);
  const int64_t n_layer = model.config().n_layer;
  // Layers on the GPU when one is used: all (-1 or at least n_layer) or the first gpu_layers.
  const int64_t on_gpu = options.gpu_layers < 0 || options.gpu_layers >= n_layer ? n_layer : options.gpu_layers;
  BackendChoice choice;
  if (options.device != "cpu" && on_gpu > 0) {
    // CUDA when a GPU is there, this build has CUDA and the model (or its first on_gpu layers)
    // fits; else the CPU with the reason (`auto`) or an error (`cuda`). The GPU and its free
    // memory are looked up without initializing CUDA (driver files, NVML), so a CPU-only run
    // never starts the CUDA runtime (see probe_cuda()). [CUDA branch: helper cudabackend]
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
      const auto estimate = [&](int64_t n) {
        CudaBackendOptions part = cuda;
        if (n < n_layer) part.layers = {0, n};
        return estimate_cuda_memory(model.config(), model.weights(), part).total();
      };
      if (on_gpu < n_layer) cuda.layers = {0, on_gpu};
      const uint64_t need = estimate(on_gpu);
      const NvmlDevice nvml(0);
      const auto memory = nvml.memory();
      if (memory && need > memory->free) {
        const auto fit = gpu_layers_that_fit(n_layer, memory->free, estimate);
        const std::string what =
            on_gpu == n_layer ? "the model needs" : fmt::format("its first {} of {} layers need", on_gpu, n_layer);
        why = fmt::format("found {}, but {} about {:.2f} GiB of GPU memory and {:.2f} GiB are free; {}", gpu, what,
                          gib(need), gib(memory->free), gpu_layers_advice(fit.value_or(0), n_layer));
      } else {
        try {
          if (on_gpu == n_layer) {
            choice.backend = create_cuda_backend(model.config(), model.weights(), cuda);
            choice.reason = "running on " + gpu;
          } else {
            auto front = create_cuda_backend(model.config(), model.weights(), cuda);
            CpuBackendOptions cpu = cpu_options(options);
            cpu.layers = {on_gpu, -1};
            auto back = std::make_unique<CpuBackend>(model.config(), model.weights(), cpu);
            choice.backend = std::make_unique<LayerSplitBackend>(std::move(front), std::move(back), n_layer);
            choice.reason = fmt::format("running the first {} of {} layers on {}, the rest on the CPU", on_gpu, n_layer,
                                        gpu);
          }
          return choice;
        } catch (const Error& e) {
          why = e.what();
        }
      }
    }
    if (options.device == "cuda") throw Error("cannot use --device cuda: " + why);
    choice.reason = "running on the CPU: " + why;
  } else if (options.device == "cpu") {
    choice.reason = "running on the CPU as requested";
  } else {
    choice.reason = "running on the CPU as requested (--gpu-layers 0)";
  }
  choice.backend = std::make_unique<CpuBackend>(model.config(), model.weights(), cpu_options(options));
  return choice;
}

}  // namespace hearth
