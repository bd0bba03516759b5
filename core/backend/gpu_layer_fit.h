#pragma once
// How many of a model's layers fit on the GPU (partial offload, --gpu-layers): the pure part of
// the factory's decision, testable without CUDA. The estimate is passed in (the factory passes
// estimate_cuda_memory with CudaBackendOptions::layers = {0, n}).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hearth {

// Device bytes the GPU part needs when it holds the first n layers (1 <= n <= n_layer; with
// n == n_layer it is the whole model, output head included).
using GpuLayerEstimate = std::function<uint64_t(int64_t n)>;

// The largest n in [0, n_layer] whose estimate fits in free_bytes (0: not even one layer);
// nullopt when the free memory is unknown. Calls the estimate at most n_layer times.
std::optional<int64_t> gpu_layers_that_fit(int64_t n_layer, std::optional<uint64_t> free_bytes,
                                           const GpuLayerEstimate& estimate);

// The advice for a model that does not fit whole: "--gpu-layers 19 would put 19 of 32 layers on
// the GPU", or "not even one of its 32 layers fits on the GPU" for 0.
std::string gpu_layers_advice(int64_t fit, int64_t n_layer);

}  // namespace hearth
