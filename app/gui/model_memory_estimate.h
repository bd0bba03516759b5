#pragma once
// How much GPU memory a model would take, before it is loaded, in builds with or without CUDA.
// estimate_cuda_memory() (core/backend/cuda/cuda_backend.h) needs the loaded weights and is only
// compiled with CUDA; this estimate works from the file's metadata alone: weights (the tensor
// bytes as stored) + the F16 KV pool for the chosen context (16-token blocks) + the backend's own
// buffer formula (core/backend/cuda_buffer_estimate.h) for 512-token passes. It is an estimate: repacked matrices and
// the host-side token embedding make the real number differ by a few percent.
#include <QString>
#include <QVariantMap>
#include <cstdint>
#include <vector>

namespace hearth {

struct ModelInfo;

struct ModelMemoryEstimate {
  int64_t context = 0;  // positions the KV cache holds
  double weights = 0;   // bytes (double: the inputs come from an untrusted file; no overflow)
  double kv_cache = 0;
  double buffers = 0;
  double total() const { return weights + kv_cache + buffers; }
};

// `context_size` 0: min(trained context, 4096), as the backends choose.
ModelMemoryEstimate estimate_model_memory(const ModelInfo& info, int64_t context_size);

// Partial offload: how many of the model's first layers fit in free_bytes when the rest (and the
// output head) run on the CPU: each GPU layer takes its stored tensor bytes (layer_bytes[i]) and
// its share of the KV cache, plus the buffers once. layer_bytes.size() (the model's layer count)
// when the whole estimate fits, 0 when not even one layer does.
int64_t gpu_layers_fitting(const ModelMemoryEstimate& e, const std::vector<double>& layer_bytes, double free_bytes);

// read_model_summary() of `path` plus, under "memory": {context, weights, kvCache, buffers,
// total (bytes), gpu (name or ""), freeVram, totalVram (bytes, -1 unknown), fits (bool, only
// with a GPU and a known free size), layers, gpuLayersFit (gpu_layers_fitting, only where fits
// is known), verdict (one line for the dialog)}. Reads the file and the
// GPU's free memory (NVML, no CUDA initialization): call it off the GUI thread.
QVariantMap inspect_model_file(const QString& path, int64_t context_size);

}  // namespace hearth
