#include "core/backend/cuda/cuda_entry.h"

#include "core/common/error.h"

namespace hearth {

#ifdef HEARTH_HAVE_CUDA

bool cuda_backend_compiled() { return true; }

std::unique_ptr<Backend> create_cuda_backend(const ModelConfig& config, const ModelWeights& weights,
                                             const CudaBackendOptions& options) {
  return std::make_unique<CudaBackend>(config, weights, options);
}

std::optional<CudaBackendInfo> cuda_backend_info(const Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  if (!cuda) return std::nullopt;
  return CudaBackendInfo{cuda->device_bytes_allocated(), cuda->weight_bytes(), cuda->graph_replays()};
}

bool set_cuda_graphs(Backend& backend, bool enabled) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (cuda) cuda->set_cuda_graphs(enabled);
  return cuda != nullptr;
}

#else

bool cuda_backend_compiled() { return false; }

std::unique_ptr<Backend> create_cuda_backend(const ModelConfig&, const ModelWeights&, const CudaBackendOptions&) {
  throw Error("this build of Hearth has no CUDA support");
}

std::optional<CudaBackendInfo> cuda_backend_info(const Backend&) { return std::nullopt; }
bool set_cuda_graphs(Backend&, bool) { return false; }

// Defined in cuda_backend.cpp in CUDA builds; nothing to estimate without CUDA.
CudaMemoryEstimate estimate_cuda_memory(const ModelConfig&, const ModelWeights&, const CudaBackendOptions&) {
  return {};
}

#endif

}  // namespace hearth
