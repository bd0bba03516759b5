#pragma once
// The CUDA backend: the llama-family forward pass (llama, qwen2, qwen3) on one NVIDIA GPU.
// Weights live on the device in their GGUF types (optionally repacked by kernels/cuda), the KV
// cache is a pool of F16 blocks (kv_geometry.h layout, also in device memory), activations are
// float32. Decode steps (every sequence has one new token) are captured as CUDA graphs and
// replayed. In passes of up to 16 tokens the norm, attention and SwiGLU kernels also write their
// output in the int8 form the quantized matvec reads (no quantization launch per product), and
// every kernel is a programmatic dependent launch of the previous one on sm_90+
// (kernels/cuda/chained_launch.cuh; HEARTH_CUDA_NO_PDL=1 turns that off). Built only when
// HEARTH_HAVE_CUDA; the header itself has no CUDA types in it.
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend/backend.h"
#include "core/backend/layer_range.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"

namespace hearth {

struct CudaBackendOptions {
  int device = 0;
  int64_t context_size = 0;   // 0: min(n_ctx_train, 4096)
  int64_t max_batch = 512;    // tokens per device pass; larger batches are split
  int64_t kv_blocks = 0;      // blocks in the KV pool; 0: one full context (as BackendOptions)
  int64_t block_tokens = 16;
  bool repack_weights = true; // kernels/cuda repack_weights() where it has a layout for the type
  bool cuda_graphs = true;    // capture and replay decode steps
  bool fuse_matrices = true;  // stack Q/K/V and gate/up of one type into one matrix each
  // Time every operation of each pass on the GPU (kernel_profiler.h): passes run without graphs,
  // and the destructor logs a table per pass kind. Also on when the environment has
  // HEARTH_CUDA_PROFILE=1. Slows every pass by a few milliseconds.
  bool profile = false;
  // Partial offload: only these layers on the device (layer_range.h); the whole model by default.
  LayerRange layers = {};
};

// Device memory the backend would allocate for a model (weights, KV pool, buffers), for the
// "does it fit" decision before CUDA is initialized. Approximate: it adds a fixed margin for the
// CUDA context and cuBLAS.
struct CudaMemoryEstimate {
  uint64_t weights = 0;
  uint64_t kv_cache = 0;
  uint64_t buffers = 0;
  uint64_t total() const { return weights + kv_cache + buffers; }
};
CudaMemoryEstimate estimate_cuda_memory(const ModelConfig& config, const ModelWeights& weights,
                                        const CudaBackendOptions& options);

class CudaBackend final : public Backend {
 public:
  // Uploads the weights; `weights` (host views, e.g. into the mapped file) must outlive the
  // backend: the token embedding is gathered on the host. Throws hearth::Error when there is no
  // device, the model does not fit (the message gives the numbers) or a CUDA call fails.
  CudaBackend(const ModelConfig& config, const ModelWeights& weights, const CudaBackendOptions& options);
  ~CudaBackend() override;

  std::string device_name() const override;
  int64_t context_size() const override;
  int64_t n_vocab() const override;

  KvGeometry kv_geometry() const override;
  int64_t kv_block_count() const override;
  void forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) override;
  void copy_kv_block(int32_t src, int32_t dst) override;
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override;
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override;
  // Partial offload (options.layers): forward_batch needs the whole model; a range runs here.
  void forward_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                     std::vector<float>& out) override;
  LayerRange layer_range() const override;
  // [host5] Greedy / top-k rows reduced to their best entries on the device (logit_select.h);
  // passes that do not fit that plan take the host default.
  void forward_batch_select(std::span<const SequenceSlice> sequences, std::span<const int32_t> top_k,
                            std::vector<float>& full, std::vector<LogitCandidate>& top) override;
  std::optional<double> energy_joules() const override;  // [host5] NVML total energy

  // Bench and tests.
  void set_cuda_graphs(bool enabled);
  uint64_t device_bytes_allocated() const;  // by this backend (weights + KV + buffers)
  uint64_t weight_bytes() const;            // of the matrices on the device
  int64_t graph_replays() const;            // decode steps served by a CUDA graph so far
  std::string profile_report() const;       // empty unless profiling (CudaBackendOptions::profile)

 private:
  struct Impl;
  bool select_on_device(std::span<const SequenceSlice> sequences, std::span<const int32_t> top_k,
                        std::vector<float>& full, std::vector<LogitCandidate>& top);  // [host5]
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth
