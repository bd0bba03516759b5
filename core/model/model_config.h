#pragma once
// Hyper-parameters of a llama-family model, read from GGUF metadata and validated, so the
// forward pass never sees an inconsistent shape.
#include <cstdint>
#include <string>

namespace hearth::gguf {
class GgufFile;
}

namespace hearth {

enum class Architecture { kLlama, kQwen2, kQwen3 };

// How RoPE pairs the elements of a head: llama's GGUF weights are permuted for adjacent pairs
// (x[2i], x[2i+1]); Qwen (GGUF "neox" mode) rotates halves (x[i], x[i + rope_dims/2]).
enum class RopeStyle { kAdjacentPairs, kHalves };

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string arch_name;      // general.architecture
  int64_t n_vocab = 0;
  int64_t n_embd = 0;         // residual width
  int64_t n_layer = 0;
  int64_t n_head = 0;         // query heads
  int64_t n_head_kv = 0;      // key/value heads (GQA: n_head % n_head_kv == 0)
  int64_t head_dim = 0;       // key_length; may differ from n_embd / n_head (Qwen3)
  int64_t n_ff = 0;           // SwiGLU hidden width
  int64_t n_ctx_train = 0;    // context length the model was trained for
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  int64_t rope_dims = 0;      // leading dims of each head that are rotated
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
  bool qkv_bias = false;      // qwen2
  bool qk_norm = false;       // qwen3
  bool tied_output = false;   // no output.weight: logits use token_embd.weight
  bool rope_freq_factors = false;  // rope_freqs.weight present (Llama 3.1+ scaling)

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }

  // Reads and validates the metadata and the presence/shape of every tensor the forward pass
  // needs. Throws hearth::FormatError naming the key or tensor that is wrong.
  static ModelConfig from_gguf(const gguf::GgufFile& file);
};

std::string architecture_name(Architecture arch);

}  // namespace hearth
