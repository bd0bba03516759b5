#pragma once
// Views of a model's tensors inside the memory-mapped GGUF file (zero copy for the CPU path),
// plus small vectors (norms, biases, RoPE factors) converted to float32 once at load time.
#include <cstdint>
#include <vector>

#include "core/model/model_config.h"
#include "kernels/common/dtype.h"
#include "kernels/cpu/weight_layout.h"

namespace hearth::gguf {
class GgufFile;
}

namespace hearth {

// A matrix of n_rows rows, each n_cols elements of `type` (the GGUF dims[0] = n_cols), row-major
// as in the file unless `layout` says otherwise (kernels/cpu/weight_layout.h: only
// ResidentWeights produces another layout; pass it on to the matmul in MatmulTarget::layout).
struct MatrixView {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t n_cols = 0;
  int64_t n_rows = 0;
  uint64_t row_bytes = 0;
  kernels::cpu::WeightLayout layout = kernels::cpu::WeightLayout::kRowMajor;
  uint64_t bytes() const { return row_bytes * static_cast<uint64_t>(n_rows); }
};

struct LayerWeights {
  std::vector<float> attn_norm;            // [n_embd]
  MatrixView wq, wk, wv, wo;               // [q_dim x n_embd], [kv_dim x n_embd] x2, [n_embd x q_dim]
  std::vector<float> bq, bk, bv;           // qwen2 only: [q_dim], [kv_dim], [kv_dim]
  std::vector<float> q_norm, k_norm;       // qwen3 only: [head_dim]
  std::vector<float> ffn_norm;             // [n_embd]
  MatrixView w_gate, w_up, w_down;         // [n_ff x n_embd] x2, [n_embd x n_ff]
};

struct ModelWeights {
  MatrixView token_embd;                   // [n_vocab x n_embd]
  MatrixView output;                       // [n_vocab x n_embd]; token_embd when tied
  std::vector<float> output_norm;          // [n_embd]
  std::vector<float> rope_freq_factors;    // [rope_dims / 2]; empty = all ones
  std::vector<LayerWeights> layers;

  // Requires a config from ModelConfig::from_gguf(file) (shapes already validated).
  // The views point into `file`, which must outlive the weights.
  static ModelWeights from_gguf(const gguf::GgufFile& file, const ModelConfig& config);
  uint64_t matrix_bytes() const;  // bytes read by one decode step's matrix products
};

}  // namespace hearth
