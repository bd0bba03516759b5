#pragma once
// Shapes of real models (and small CI variants with the same architectural features) for
// `hearth-cli synth`: a random-weight GGUF with a preset's shapes lets us test and benchmark
// the engine without downloading multi-gigabyte weights.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace hearth {

// Llama 3.1+ "llama3" RoPE scaling (HF config rope_scaling). The per-frequency factors it implies
// are stored in the GGUF as rope_freqs.weight [head_dim / 2].
struct Llama3RopeScaling {
  float factor = 8.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int64_t original_context = 8192;
};

struct ModelPreset {
  std::string_view name;          // what `synth --preset` takes: "llama-3.2-1b"
  std::string_view display_name;  // general.name
  std::string_view arch;          // general.architecture: "llama", "qwen2", "qwen3"
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;           // key_length = value_length
  int64_t n_ff = 0;
  int64_t n_ctx = 0;              // context_length
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_output = false;       // no output.weight: logits use token_embd.weight
  bool qkv_bias = false;          // qwen2: attn_{q,k,v}.bias
  bool qk_norm = false;           // qwen3: attn_{q,k}_norm.weight [head_dim]
  std::optional<Llama3RopeScaling> rope_scaling;  // present => rope_freqs.weight
  int64_t first_special = 0;      // id of the first special (control) token; ids below are BPE tokens

  bool is_llama3_family() const { return arch == "llama"; }
};

// All presets, real models first, then the tiny CI variants.
std::span<const ModelPreset> model_presets();
const ModelPreset* find_model_preset(std::string_view name);

// rope_freqs.weight for Llama 3 scaling: one factor per rotated pair (head_dim / 2 values) that
// divides that pair's frequency. Long wavelengths are slowed by `factor`, short ones kept, and
// the band between is interpolated smoothly (as the HF and llama.cpp converters compute it).
std::vector<float> llama3_rope_factors(const Llama3RopeScaling& scaling, int64_t head_dim, float rope_base);

}  // namespace hearth
