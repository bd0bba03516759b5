#include "core/model/model_info.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"

namespace hearth {

namespace {

// Typed getters throw FormatError for a value of the wrong type; info reports what it can.
template <typename Fn>
auto lenient(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    return {};
  }
}

// Items of an array value without decoding them (the token list can be 150k strings).
uint64_t array_length(const gguf::GgufFile& f, std::string_view key) {
  const auto* v = f.find(key);
  if (!v) return 0;
  const auto* a = std::get_if<gguf::Array>(&v->data);
  return a ? a->items.size() : 0;
}

int64_t meta_int(const gguf::GgufFile& f, const std::string& key) {
  return lenient([&]() -> std::optional<int64_t> { return f.get_int(key); }).value_or(0);
}

ModelShapes shapes_from_metadata(const gguf::GgufFile& f, const std::string& arch) {
  ModelShapes s;
  s.source = "metadata";
  const std::string p = arch + ".";
  s.n_embd = meta_int(f, p + "embedding_length");
  s.n_layer = meta_int(f, p + "block_count");
  s.n_head = meta_int(f, p + "attention.head_count");
  s.n_head_kv = meta_int(f, p + "attention.head_count_kv");
  if (s.n_head_kv == 0) s.n_head_kv = s.n_head;
  s.head_dim = meta_int(f, p + "attention.key_length");
  if (s.head_dim == 0 && s.n_head > 0) s.head_dim = s.n_embd / s.n_head;
  s.n_ff = meta_int(f, p + "feed_forward_length");
  s.n_ctx_train = meta_int(f, p + "context_length");
  s.rms_eps = lenient([&]() -> std::optional<double> { return f.get_float(p + "attention.layer_norm_rms_epsilon"); })
                  .value_or(0.0);
  s.rope_base = lenient([&]() -> std::optional<double> { return f.get_float(p + "rope.freq_base"); }).value_or(0.0);
  if (const auto* embd = f.find_tensor("token_embd.weight"); embd && embd->dims.size() == 2) {
    s.n_vocab = static_cast<int64_t>(embd->dims[1]);
  } else {
    s.n_vocab = meta_int(f, p + "vocab_size");
  }
  s.tied_output = f.find_tensor("token_embd.weight") && !f.find_tensor("output.weight");
  s.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  s.qk_norm = f.find_tensor("blk.0.attn_q_norm.weight") != nullptr;
  s.rope_freq_factors = f.find_tensor("rope_freqs.weight") != nullptr;
  return s;
}

ModelShapes shapes_from_config(const ModelConfig& c) {
  ModelShapes s;
  s.source = "config";
  s.n_vocab = c.n_vocab;
  s.n_embd = c.n_embd;
  s.n_layer = c.n_layer;
  s.n_head = c.n_head;
  s.n_head_kv = c.n_head_kv;
  s.head_dim = c.head_dim;
  s.n_ff = c.n_ff;
  s.n_ctx_train = c.n_ctx_train;
  s.rms_eps = c.rms_eps;
  s.rope_base = c.rope_base;
  s.tied_output = c.tied_output;
  s.qkv_bias = c.qkv_bias;
  s.qk_norm = c.qk_norm;
  s.rope_freq_factors = c.rope_freq_factors;
  return s;
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f} M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f} K", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

}  // namespace

std::string llama_file_type_name(uint64_t file_type) {
  static constexpr std::pair<uint64_t, const char*> kNames[] = {
      {0, "F32"},     {1, "F16"},      {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},    {8, "Q5_0"},
      {9, "Q5_1"},    {10, "Q2_K"},    {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"},
      {15, "Q4_K_M"}, {16, "Q5_K_S"},  {17, "Q5_K_M"}, {18, "Q6_K"},   {32, "BF16"},
  };
  for (const auto& [id, name] : kNames) {
    if (id == file_type) return name;
  }
  return "";
}

ModelInfo read_model_info(const gguf::GgufFile& f) {
  ModelInfo info;
  info.gguf_version = f.version();
  info.file_size = f.file_size();
  info.alignment = f.alignment();
  info.metadata_count = f.metadata().size();
  auto str = [&](std::string_view key) {
    return lenient([&]() -> std::optional<std::string> { return f.get_string(key); }).value_or("");
  };
  auto opt_uint = [&](std::string_view key) {
    return lenient([&]() -> std::optional<uint64_t> { return f.get_uint(key); });
  };
  auto opt_int = [&](std::string_view key) {
    return lenient([&]() -> std::optional<int64_t> { return f.get_int(key); });
  };
  info.architecture = str("general.architecture");
  info.name = str("general.name");
  info.file_type = opt_uint("general.file_type");
  if (info.file_type) info.file_type_name = llama_file_type_name(*info.file_type);
  info.quantization_version = opt_uint("general.quantization_version");

  try {
    info.shapes = shapes_from_config(ModelConfig::from_gguf(f));
  } catch (const Error& e) {
    info.shapes = shapes_from_metadata(f, info.architecture);
    info.shapes.config_error = e.what();
  }

  std::map<std::string, TensorTypeStats> per_type;
  for (const auto& t : f.tensors()) {
    auto& s = per_type[std::string(dtype_name(t.type))];
    s.type = dtype_name(t.type);
    ++s.count;
    s.elements += t.n_elements;
    s.bytes += t.n_bytes;
    info.parameter_count += t.n_elements;
    info.tensor_bytes += t.n_bytes;
  }
  info.tensor_count = f.tensors().size();
  for (auto& [name, s] : per_type) info.types.push_back(s);
  std::stable_sort(info.types.begin(), info.types.end(),
                   [](const TensorTypeStats& a, const TensorTypeStats& b) { return a.bytes > b.bytes; });

  info.vocab_model = str("tokenizer.ggml.model");
  info.vocab_pre = str("tokenizer.ggml.pre");
  info.vocab_size = array_length(f, "tokenizer.ggml.tokens");
  info.merges_count = array_length(f, "tokenizer.ggml.merges");
  info.bos_id = opt_int("tokenizer.ggml.bos_token_id");
  info.eos_id = opt_int("tokenizer.ggml.eos_token_id");
  info.eot_id = opt_int("tokenizer.ggml.eot_token_id");
  info.add_bos = lenient([&]() -> std::optional<bool> { return f.get_bool("tokenizer.ggml.add_bos_token"); });
  if (const auto* v = f.find("tokenizer.chat_template")) {
    if (const auto* s = std::get_if<std::string>(&v->data)) {
      info.has_chat_template = true;
      info.chat_template_bytes = s->size();
    }
  }
  return info;
}

std::string format_model_info(const ModelInfo& i) {
  std::string out;
  auto line = [&](std::string_view label, const std::string& value) {
    out += fmt::format("{:<22}{}\n", std::string(label) + ":", value);
  };
  auto opt = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };

  line("name", i.name.empty() ? "-" : i.name);
  line("architecture", i.architecture.empty() ? "-" : i.architecture);
  std::string ftype = "-";
  if (i.file_type) ftype = fmt::format("{} ({})", i.file_type_name.empty() ? "unknown" : i.file_type_name, *i.file_type);
  line("file type", ftype);
  line("file", fmt::format("GGUF v{}, {} ({} bytes), alignment {}, {} metadata keys", i.gguf_version,
                           human_bytes(i.file_size), i.file_size, i.alignment, i.metadata_count));
  line("parameters", fmt::format("{} ({})", human_count(i.parameter_count), i.parameter_count));
  if (i.parameter_count > 0) {
    line("bits per weight", fmt::format("{:.2f}", 8.0 * static_cast<double>(i.tensor_bytes) /
                                                      static_cast<double>(i.parameter_count)));
  }

  const auto& s = i.shapes;
  out += fmt::format("shapes (from {}):\n", s.source == "config" ? "validated config" : "raw metadata");
  if (!s.config_error.empty()) out += fmt::format("  not runnable: {}\n", s.config_error);
  out += fmt::format("  vocab {}, embd {}, layers {}, heads {} (kv {}), head dim {}, ff {}\n", s.n_vocab, s.n_embd,
                     s.n_layer, s.n_head, s.n_head_kv, s.head_dim, s.n_ff);
  out += fmt::format("  context {}, rms eps {:g}, rope base {:g}\n", s.n_ctx_train, s.rms_eps, s.rope_base);
  std::string features;
  auto feature = [&](bool on, std::string_view name) {
    if (on) features += (features.empty() ? "" : ", ") + std::string(name);
  };
  feature(s.tied_output, "tied output");
  feature(s.qkv_bias, "q/k/v bias");
  feature(s.qk_norm, "q/k norm");
  feature(s.rope_freq_factors, "rope freq factors");
  out += fmt::format("  features: {}\n", features.empty() ? "-" : features);

  out += fmt::format("tensors: {}, {}\n", i.tensor_count, human_bytes(i.tensor_bytes));
  for (const auto& t : i.types) {
    out += fmt::format("  {:<6} {:>5} tensors {:>12} ({:.1f}%)\n", t.type, t.count, human_bytes(t.bytes),
                       i.tensor_bytes ? 100.0 * static_cast<double>(t.bytes) / static_cast<double>(i.tensor_bytes) : 0.0);
  }
  line("vocabulary", fmt::format("{} (pre {}), {} tokens, {} merges", i.vocab_model.empty() ? "-" : i.vocab_model,
                                 i.vocab_pre.empty() ? "-" : i.vocab_pre, i.vocab_size, i.merges_count));
  line("special tokens", fmt::format("bos {}, eos {}, eot {}, add bos {}", opt(i.bos_id), opt(i.eos_id), opt(i.eot_id),
                                     i.add_bos ? (*i.add_bos ? "yes" : "no") : "-"));
  line("chat template", i.has_chat_template ? fmt::format("yes ({} bytes)", i.chat_template_bytes) : "no");
  return out;
}

}  // namespace hearth
