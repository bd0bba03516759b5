#pragma once
// The CPU backend: llama-family forward pass over weights memory-mapped from the GGUF file,
// matrix products through kernels/cpu (AVX2 or portable), float32 activations, and a paged KV
// cache: a pool of fixed-size blocks stored exactly in the host layout of core/kv/kv_geometry.h
// (so read/write_kv_block are plain copies).
//
// Partial offload (options.layers = [begin, end)): only those layers' weights are used (and copied
// into resident memory; the token embedding only when begin == 0, the output norm and head only
// when end == n_layer), the KV pool holds those layers only (kv_geometry().n_layer == end - begin,
// local layer index il - begin), and passes run through forward_stage; forward_batch then throws.
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/layer_range.h"
#include "core/backend/cpu/resident_weights.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth {

struct CpuBackendOptions {
  int n_threads = 0;         // 0: all hardware threads
  int64_t context_size = 0;  // 0: min(n_ctx_train, 4096); most positions of one sequence
  int64_t max_batch = 512;   // tokens (of all sequences) per pass through the weights; more are split
  // Copy the weight matrices into huge-page memory (faster decode) instead of reading them
  // through the file mapping (no copy, less memory).
  bool resident_weights = true;
  int64_t kv_blocks = 0;        // blocks in the KV pool; 0: enough for one full context
  int64_t kv_block_tokens = 16; // positions per KV block
  // Partial offload: only these layers (layer_range.h); the whole model by default.
  LayerRange layers = {};  // an initializer: designated-initializer lists that omit it stay warning-free
};

class CpuBackend final : public Backend {
 public:
  // `weights` point into a file owned by the caller, which must outlive the backend.
  // Allocates the whole KV pool up front (pages are committed as they are first written).
  CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options);

  std::string device_name() const override;
  int64_t context_size() const override { return n_ctx_; }
  int64_t n_vocab() const override { return config_.n_vocab; }

  KvGeometry kv_geometry() const override { return geometry_; }
  int64_t kv_block_count() const override { return n_blocks_; }
  void forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) override;
  void copy_kv_block(int32_t src, int32_t dst) override;
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override;
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override;
  void forward_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                     std::vector<float>& out) override;
  LayerRange layer_range() const override { return {begin_, end_}; }

 private:
  // A run of consecutive tokens of one sequence inside one pass (chunk) through the weights.
  struct Segment {
    size_t sequence;      // index into forward_batch's sequences
    int64_t first_token;  // index into that sequence's tokens
    int64_t n_tokens;
    int64_t first_row;    // row of the chunk's activations
  };

  void validate(std::span<const SequenceSlice> sequences);
  // The passes of forward_batch / forward_stage: hidden_in as forward_stage's (empty when
  // begin_ == 0), out sized and written as forward_stage's.
  void run_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in, std::vector<float>& out);
  bool computes_logits() const { return end_ == config_.n_layer; }
  bool whole_model() const { return begin_ == 0 && computes_logits(); }
  void check_block_id(int32_t block, const char* what) const;
  // hidden_in: the chunk's input rows [n_rows, n_embd] when begin_ > 0, else null (embedding).
  // out: the chunk's logits rows (end_ == n_layer) or its output rows [n_rows, n_embd].
  void forward_chunk(std::span<const SequenceSlice> sequences, std::span<const Segment> segments, int64_t n_rows,
                     const float* hidden_in, float* out);
  void matmul(const MatrixView& w, const float* x, int64_t m, float* y);
  // Products of one input with several matrices (Q/K/V, gate/up) in one pass over the pool.
  void matmul_shared(std::initializer_list<kernels::cpu::MatmulTarget> targets, int64_t n_cols, const float* x,
                     int64_t m);
  void attention_block(const LayerWeights& l, int64_t layer, std::span<const SequenceSlice> sequences,
                       std::span<const Segment> segments, int64_t n_rows);
  void store_kv(int64_t layer, std::span<const SequenceSlice> sequences, std::span<const Segment> segments);
  float* block_data(int32_t block) const { return kv_pool_.get() + static_cast<int64_t>(block) * block_floats_; }

  const ModelConfig& config_;
  int64_t n_ctx_;
  int64_t max_batch_;
  int64_t begin_, end_;  // layers [begin_, end_) of the model (options.layers, resolved and checked)
  kernels::cpu::ThreadPool pool_;
  kernels::cpu::Matmul matmul_;
  // A partial backend's views: the caller's with the unused matrices and norms left out (so
  // ResidentWeights copies only what is used); empty for a whole-model backend.
  ModelWeights range_weights_;
  std::unique_ptr<ResidentWeights> resident_;  // set when the weights were copied
  const ModelWeights& weights_;                // resident_->weights(), range_weights_ or the caller's

  // KV pool: n_blocks_ blocks of block_floats_ floats, each [n_layer][2][n_kv_head][block_tokens][head_dim].
  KvGeometry geometry_;
  int64_t n_blocks_ = 0;
  int64_t block_floats_ = 0;
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], FreeDeleter> kv_pool_;
  std::vector<int32_t> block_uses_;  // [n_blocks_] scratch of validate(), all zero between calls

  std::vector<float> inv_freq_;  // [rope_dims / 2]
  // Activations of one chunk, sized for max_batch rows.
  std::vector<float> x_, h_, q_, k_, v_, attn_, gate_, up_, rope_cs_;
  std::vector<uint8_t> embedding_row_;                              // one row-major embedding row (repacked tied output)
  std::vector<int64_t> positions_;                                  // [max_batch] position of each row
  std::vector<kernels::cpu::PagedAttentionSequence> attn_sequences_;  // one per segment
};

}  // namespace hearth
