#pragma once
// The CPU backend: llama-family forward pass over weights memory-mapped from the GGUF file,
// matrix products through kernels/cpu (AVX2 or portable), float32 activations and KV cache.
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/cpu/resident_weights.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth {

struct CpuBackendOptions {
  int n_threads = 0;         // 0: all hardware threads
  int64_t context_size = 0;  // 0: min(n_ctx_train, 4096)
  int64_t max_batch = 512;   // tokens per forward call; longer inputs are split
  // Copy the weight matrices into huge-page memory (faster decode) instead of reading them
  // through the file mapping (no copy, less memory).
  bool resident_weights = true;
};

class CpuBackend final : public Backend {
 public:
  // `weights` point into a file owned by the caller, which must outlive the backend.
  CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options);

  std::string device_name() const override;
  int64_t context_size() const override { return n_ctx_; }
  int64_t n_vocab() const override { return config_.n_vocab; }
  int64_t n_past() const override { return n_past_; }
  void forward(const ForwardInput& input, std::vector<float>& logits) override;
  void truncate(int64_t n_past) override;

 private:
  void forward_chunk(std::span<const TokenId> tokens, bool all_logits, float* logits);
  void matmul(const MatrixView& w, const float* x, int64_t m, float* y);
  // Products of one input with several matrices (Q/K/V, gate/up) in one pass over the pool.
  void matmul_shared(std::initializer_list<kernels::cpu::MatmulTarget> targets, int64_t n_cols, const float* x,
                     int64_t m);
  void attention_block(const LayerWeights& l, int64_t layer, int64_t n_tokens);
  void prepare_rope(int64_t n_tokens);

  const ModelConfig& config_;
  int64_t n_ctx_;
  int64_t max_batch_;
  int64_t n_past_ = 0;
  kernels::cpu::ThreadPool pool_;
  kernels::cpu::Matmul matmul_;
  std::unique_ptr<ResidentWeights> resident_;  // set when the weights were copied
  const ModelWeights& weights_;                // resident_->weights() or the caller's

  std::vector<float> inv_freq_;  // [rope_dims / 2]
  std::vector<float> k_cache_;   // [n_layer, n_ctx, kv_dim]
  std::vector<float> v_cache_;   // [n_layer, n_ctx, kv_dim]
  // Activations of one chunk, sized for max_batch tokens.
  std::vector<float> x_, h_, q_, k_, v_, attn_, gate_, up_, rope_cs_;
};

}  // namespace hearth
