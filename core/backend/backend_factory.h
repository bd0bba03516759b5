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
};

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  std::string reason;  // why this device: "cuda: no NVIDIA device found, running on the CPU"
};

// Throws hearth::Error for an unknown device name or a device that cannot be used.
BackendChoice create_backend(const LoadedModel& model, const BackendOptions& options);

}  // namespace hearth
