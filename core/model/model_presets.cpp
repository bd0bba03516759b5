#include "core/model/model_presets.h"

#include <cmath>
#include <numbers>

namespace hearth {

namespace {

constexpr Llama3RopeScaling kLlama32Scaling{32.0f, 1.0f, 4.0f, 8192};
constexpr Llama3RopeScaling kLlama31Scaling{8.0f, 1.0f, 4.0f, 8192};

// Designated initialisers keep each row readable; unspecified fields take the struct defaults.
const ModelPreset kPresets[] = {
    {.name = "llama-3.2-1b", .display_name = "Llama 3.2 1B (synthetic)", .arch = "llama",
     .n_vocab = 128256, .n_embd = 2048, .n_layer = 16, .n_head = 32, .n_head_kv = 8, .head_dim = 64,
     .n_ff = 8192, .n_ctx = 131072, .rope_base = 500000.0f, .rms_eps = 1e-5f, .tied_output = true,
     .rope_scaling = kLlama32Scaling, .first_special = 128000},
    {.name = "llama-3.2-3b", .display_name = "Llama 3.2 3B (synthetic)", .arch = "llama",
     .n_vocab = 128256, .n_embd = 3072, .n_layer = 28, .n_head = 24, .n_head_kv = 8, .head_dim = 128,
     .n_ff = 8192, .n_ctx = 131072, .rope_base = 500000.0f, .rms_eps = 1e-5f, .tied_output = true,
     .rope_scaling = kLlama32Scaling, .first_special = 128000},
    {.name = "llama-3.1-8b", .display_name = "Llama 3.1 8B (synthetic)", .arch = "llama",
     .n_vocab = 128256, .n_embd = 4096, .n_layer = 32, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
     .n_ff = 14336, .n_ctx = 131072, .rope_base = 500000.0f, .rms_eps = 1e-5f, .tied_output = false,
     .rope_scaling = kLlama31Scaling, .first_special = 128000},
    {.name = "qwen2.5-0.5b", .display_name = "Qwen2.5 0.5B (synthetic)", .arch = "qwen2",
     .n_vocab = 151936, .n_embd = 896, .n_layer = 24, .n_head = 14, .n_head_kv = 2, .head_dim = 64,
     .n_ff = 4864, .n_ctx = 32768, .rope_base = 1000000.0f, .rms_eps = 1e-6f, .tied_output = true,
     .qkv_bias = true, .rope_scaling = std::nullopt, .first_special = 151643},
    {.name = "qwen2.5-7b", .display_name = "Qwen2.5 7B (synthetic)", .arch = "qwen2",
     .n_vocab = 152064, .n_embd = 3584, .n_layer = 28, .n_head = 28, .n_head_kv = 4, .head_dim = 128,
     .n_ff = 18944, .n_ctx = 32768, .rope_base = 1000000.0f, .rms_eps = 1e-6f, .tied_output = false,
     .qkv_bias = true, .rope_scaling = std::nullopt, .first_special = 151643},
    {.name = "qwen3-0.6b", .display_name = "Qwen3 0.6B (synthetic)", .arch = "qwen3",
     .n_vocab = 151936, .n_embd = 1024, .n_layer = 28, .n_head = 16, .n_head_kv = 8, .head_dim = 128,
     .n_ff = 3072, .n_ctx = 40960, .rope_base = 1000000.0f, .rms_eps = 1e-6f, .tied_output = true,
     .qk_norm = true, .rope_scaling = std::nullopt, .first_special = 151643},
    // CI variants: every row length is a multiple of 256 so all K-quants apply.
    {.name = "tiny-llama-3", .display_name = "Tiny Llama 3 (synthetic)", .arch = "llama",
     .n_vocab = 1024, .n_embd = 256, .n_layer = 2, .n_head = 8, .n_head_kv = 2, .head_dim = 32,
     .n_ff = 768, .n_ctx = 8192, .rope_base = 500000.0f, .rms_eps = 1e-5f, .tied_output = true,
     .rope_scaling = kLlama32Scaling, .first_special = 1024 - 16},
    {.name = "tiny-qwen2.5", .display_name = "Tiny Qwen2.5 (synthetic)", .arch = "qwen2",
     .n_vocab = 1024, .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .head_dim = 64,
     .n_ff = 512, .n_ctx = 8192, .rope_base = 1000000.0f, .rms_eps = 1e-6f, .tied_output = false,
     .qkv_bias = true, .rope_scaling = std::nullopt, .first_special = 1024 - 32},
    {.name = "tiny-qwen3", .display_name = "Tiny Qwen3 (synthetic)", .arch = "qwen3",
     .n_vocab = 1024, .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .head_dim = 128,
     .n_ff = 512, .n_ctx = 8192, .rope_base = 1000000.0f, .rms_eps = 1e-6f, .tied_output = true,
     .qk_norm = true, .rope_scaling = std::nullopt, .first_special = 1024 - 32},
};

}  // namespace

std::span<const ModelPreset> model_presets() { return kPresets; }

const ModelPreset* find_model_preset(std::string_view name) {
  for (const auto& p : kPresets) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<float> llama3_rope_factors(const Llama3RopeScaling& s, int64_t head_dim, float rope_base) {
  // float32 arithmetic throughout, like the converters (torch float32 tensors), so the stored
  // factors match a converted file bit for bit away from the band edges.
  const float low_freq_wavelen = static_cast<float>(s.original_context) / s.low_freq_factor;
  const float high_freq_wavelen = static_cast<float>(s.original_context) / s.high_freq_factor;
  std::vector<float> factors;
  factors.reserve(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(head_dim);
    const float freq = 1.0f / std::pow(rope_base, exponent);
    const float wavelen = 2.0f * std::numbers::pi_v<float> / freq;
    if (wavelen < high_freq_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      factors.push_back(s.factor);
    } else {
      const float smooth = (static_cast<float>(s.original_context) / wavelen - s.low_freq_factor) /
                           (s.high_freq_factor - s.low_freq_factor);
      factors.push_back(1.0f / ((1.0f - smooth) / s.factor + smooth));
    }
  }
  return factors;
}

}  // namespace hearth
