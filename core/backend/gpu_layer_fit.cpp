#include "core/backend/gpu_layer_fit.h"

#include <fmt/format.h>

namespace hearth {

std::optional<int64_t> gpu_layers_that_fit(int64_t n_layer, std::optional<uint64_t> free_bytes,
                                           const GpuLayerEstimate& estimate) {
  if (!free_bytes) return std::nullopt;
  // From the top: the estimate grows with n, so the first n that fits is the largest.
  for (int64_t n = n_layer; n >= 1; --n) {
    if (estimate(n) <= *free_bytes) return n;
  }
  return 0;
}

std::string gpu_layers_advice(int64_t fit, int64_t n_layer) {
  if (fit <= 0) return fmt::format("not even one of its {} layers fits on the GPU", n_layer);
  return fmt::format("--gpu-layers {} would put {} of {} layers on the GPU", fit, fit, n_layer);
}

}  // namespace hearth
