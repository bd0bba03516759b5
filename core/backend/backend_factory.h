#pragma once
// Chooses and builds the backend for a model: --device auto|cpu|cuda.
#include <memory>
#include <string>

#include "core/backend/backend.h"
#include "core/model/loaded_model.h"

// Feature test for code written while BackendOptions gained the KV pool fields (core/engine).
#define HEARTH_BACKEND_OPTIONS_HAVE_KV_POOL 1

namespace hearth {

struct BackendOptions {
  std::string device = "auto";  // auto, cpu, cuda
  int n_threads = 0;            // CPU threads; 0 = all
  int64_t context_size = 0;     // 0 = model default (capped)
  bool mmap_weights = false;    // CPU: read weights through the file mapping instead of a huge-page copy
  // Paged KV pool, allocated once: kv_blocks blocks of kv_block_tokens positions each.
  // 0 blocks = enough for one full context (the engine passes context * max running sequences).
  int64_t kv_blocks = 0;
  int64_t kv_block_tokens = 16;
  int64_t max_batch = 512;      // tokens of all sequences per pass through the weights
  // Partial offload (--gpu-layers): -1 all layers on the GPU (when one is used, as before);
  // 0 the CPU only; 0 < N < n_layer the first N layers on the GPU and the rest on the CPU
  // (LayerSplitBackend); N >= n_layer all. A GPU count with device "cpu" is an error.
  int64_t gpu_layers = -1;
};

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  // why this device: "running on the CPU: no NVIDIA GPU found", "running the first 19 of 32
  // layers on NVIDIA H100 80GB HBM3, the rest on the CPU"
  std::string reason;
};

// Throws hearth::Error for an unknown device name, an invalid gpu_layers, or a device that cannot
// be used. Device "auto" falls back to the CPU when the model does not fit the GPU whole (the
// reason then says how many GPU layers would fit); a split runs only when gpu_layers asks for it.
BackendChoice create_backend(const LoadedModel& model, const BackendOptions& options);

}  // namespace hearth
