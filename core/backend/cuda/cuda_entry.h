#pragma once
// Building the CUDA backend from code that must also compile without CUDA (the factory, tests,
// hearth-cli): these functions exist in every build and say so when CUDA is not compiled in.
#include <cstdint>
#include <memory>
#include <optional>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_backend.h"

namespace hearth {

// Whether this build contains the CUDA backend.
bool cuda_backend_compiled();

// Throws hearth::Error when CUDA is not compiled in or the backend cannot be built.
std::unique_ptr<Backend> create_cuda_backend(const ModelConfig& config, const ModelWeights& weights,
                                             const CudaBackendOptions& options);

// Bench and test hooks, usable in every build: nullopt / false for a backend that is not the
// CUDA backend (and always without CUDA).
struct CudaBackendInfo {
  uint64_t device_bytes = 0;  // allocated by the backend (weights + KV + buffers)
  uint64_t weight_bytes = 0;  // matrices on the device
  int64_t graph_replays = 0;  // decode steps served by a CUDA graph so far
};
std::optional<CudaBackendInfo> cuda_backend_info(const Backend& backend);
bool set_cuda_graphs(Backend& backend, bool enabled);

}  // namespace hearth
