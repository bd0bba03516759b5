#include "core/model/model_config.h"

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"

namespace hearth {

namespace {

// Largest value we accept for any single dimension: far above real models, far below overflow.
constexpr int64_t kMaxDim = int64_t{1} << 24;

int64_t required_dim(const gguf::GgufFile& f, const std::string& key) {
  const auto v = f.get_uint(key);
  if (!v) throw FormatError(fmt::format("missing model metadata '{}'", key));
  if (*v == 0 || *v > static_cast<uint64_t>(kMaxDim)) {
    throw FormatError(fmt::format("metadata '{}' = {} is out of range (1..{})", key, *v, kMaxDim));
  }
  return static_cast<int64_t>(*v);
}

int64_t optional_dim(const gguf::GgufFile& f, const std::string& key, int64_t fallback) {
  return f.find(key) ? required_dim(f, key) : fallback;
}

// Checks that a tensor exists with the given dims (dims[0] = row length).
void expect_tensor(const gguf::GgufFile& f, const std::string& name, std::initializer_list<int64_t> dims) {
  const auto* t = f.find_tensor(name);
  if (!t) throw FormatError(fmt::format("model is missing tensor '{}'", name));
  bool ok = t->dims.size() == dims.size();
  size_t i = 0;
  for (int64_t d : dims) {
    if (i < t->dims.size() && static_cast<int64_t>(t->dims[i]) != d) ok = false;
    ++i;
  }
  if (!ok) {
    std::string want, got;
    for (int64_t d : dims) want += fmt::format("{}{}", want.empty() ? "" : ", ", d);
    for (uint64_t d : t->dims) got += fmt::format("{}{}", got.empty() ? "" : ", ", d);
    throw FormatError(fmt::format("tensor '{}' has shape [{}], expected [{}]", name, got, want));
  }
}

}  // namespace

std::string architecture_name(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "llama";
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kQwen3: return "qwen3";
  }
  return "unknown";
}

ModelConfig ModelConfig::from_gguf(const gguf::GgufFile& f) {
  ModelConfig c;
  const auto arch = f.get_string("general.architecture");
  if (!arch) throw FormatError("missing metadata 'general.architecture'");
  c.arch_name = *arch;
  if (*arch == "llama" || *arch == "mistral") {
    c.arch = Architecture::kLlama;
  } else if (*arch == "qwen2") {
    c.arch = Architecture::kQwen2;
  } else if (*arch == "qwen3") {
    c.arch = Architecture::kQwen3;
  } else {
    throw FormatError(fmt::format("architecture '{}' is not supported (supported: llama, mistral, qwen2, qwen3)", *arch));
  }
  const std::string p = *arch + ".";

  c.n_embd = required_dim(f, p + "embedding_length");
  c.n_layer = required_dim(f, p + "block_count");
  c.n_head = required_dim(f, p + "attention.head_count");
  c.n_head_kv = optional_dim(f, p + "attention.head_count_kv", c.n_head);
  c.n_ff = required_dim(f, p + "feed_forward_length");
  c.n_ctx_train = optional_dim(f, p + "context_length", 2048);
  if (c.n_head % c.n_head_kv != 0) {
    throw FormatError(fmt::format("head_count {} is not a multiple of head_count_kv {}", c.n_head, c.n_head_kv));
  }
  const int64_t default_head_dim = c.n_embd % c.n_head == 0 ? c.n_embd / c.n_head : 0;
  c.head_dim = optional_dim(f, p + "attention.key_length", default_head_dim);
  if (c.head_dim == 0) throw FormatError("embedding_length is not a multiple of head_count and key_length is missing");
  if (optional_dim(f, p + "attention.value_length", c.head_dim) != c.head_dim) {
    throw FormatError("attention.value_length different from key_length is not supported");
  }
  if (c.head_dim % 2 != 0) throw FormatError(fmt::format("head dimension {} must be even for RoPE", c.head_dim));
  c.rope_dims = optional_dim(f, p + "rope.dimension_count", c.head_dim);
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    throw FormatError(fmt::format("rope.dimension_count {} must be even and <= head dimension {}", c.rope_dims, c.head_dim));
  }
  if (auto eps = f.get_float(p + "attention.layer_norm_rms_epsilon")) {
    if (!(*eps > 0 && *eps < 1)) throw FormatError("attention.layer_norm_rms_epsilon must be in (0, 1)");
    c.rms_eps = static_cast<float>(*eps);
  }
  if (auto base = f.get_float(p + "rope.freq_base")) {
    if (!(*base > 1 && *base < 1e12)) throw FormatError("rope.freq_base is out of range");
    c.rope_base = static_cast<float>(*base);
  }
  if (auto scaling = f.get_string(p + "rope.scaling.type"); scaling && *scaling != "none" && *scaling != "llama3") {
    throw FormatError(fmt::format("rope.scaling.type '{}' is not supported", *scaling));
  }
  c.rope_style = c.arch == Architecture::kLlama ? RopeStyle::kAdjacentPairs : RopeStyle::kHalves;
  c.qkv_bias = c.arch == Architecture::kQwen2;
  c.qk_norm = c.arch == Architecture::kQwen3;

  const auto* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2) throw FormatError("model is missing a 2-D tensor 'token_embd.weight'");
  c.n_vocab = static_cast<int64_t>(embd->dims[1]);
  if (auto vocab = f.get_uint(p + "vocab_size"); vocab && *vocab != static_cast<uint64_t>(c.n_vocab)) {
    throw FormatError(fmt::format("vocab_size {} does not match token_embd.weight rows {}", *vocab, c.n_vocab));
  }
  expect_tensor(f, "token_embd.weight", {c.n_embd, c.n_vocab});
  expect_tensor(f, "output_norm.weight", {c.n_embd});
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  if (!c.tied_output) expect_tensor(f, "output.weight", {c.n_embd, c.n_vocab});
  if (f.find_tensor("rope_freqs.weight")) {
    expect_tensor(f, "rope_freqs.weight", {c.rope_dims / 2});
    c.rope_freq_factors = true;
  }
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    expect_tensor(f, b + "attn_norm.weight", {c.n_embd});
    expect_tensor(f, b + "attn_q.weight", {c.n_embd, c.q_dim()});
    expect_tensor(f, b + "attn_k.weight", {c.n_embd, c.kv_dim()});
    expect_tensor(f, b + "attn_v.weight", {c.n_embd, c.kv_dim()});
    expect_tensor(f, b + "attn_output.weight", {c.q_dim(), c.n_embd});
    expect_tensor(f, b + "ffn_norm.weight", {c.n_embd});
    expect_tensor(f, b + "ffn_gate.weight", {c.n_embd, c.n_ff});
    expect_tensor(f, b + "ffn_up.weight", {c.n_embd, c.n_ff});
    expect_tensor(f, b + "ffn_down.weight", {c.n_ff, c.n_embd});
    if (c.qkv_bias) {
      expect_tensor(f, b + "attn_q.bias", {c.q_dim()});
      expect_tensor(f, b + "attn_k.bias", {c.kv_dim()});
      expect_tensor(f, b + "attn_v.bias", {c.kv_dim()});
    }
    if (c.qk_norm) {
      expect_tensor(f, b + "attn_q_norm.weight", {c.head_dim});
      expect_tensor(f, b + "attn_k_norm.weight", {c.head_dim});
    }
  }
  return c;
}

}  // namespace hearth
