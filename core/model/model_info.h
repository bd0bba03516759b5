#pragma once
// A summary of a GGUF model file for `hearth-cli info`: what it is, its shapes, how big, how its
// tensors are stored, and what tokenizer and chat template it carries.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::gguf {
class GgufFile;
}

namespace hearth {

struct TensorTypeStats {
  std::string type;        // "q4_K"
  uint64_t count = 0;      // tensors of this type
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct ModelShapes {
  // "config" when ModelConfig::from_gguf validated the file, "metadata" when read raw from the
  // {arch}.* keys (the file is not one the engine can run; config_error says why).
  std::string source;
  std::string config_error;
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int64_t n_ctx_train = 0;
  double rms_eps = 0, rope_base = 0;
  bool tied_output = false, qkv_bias = false, qk_norm = false, rope_freq_factors = false;
};

struct ModelInfo {
  uint32_t gguf_version = 0;
  uint64_t file_size = 0;
  uint64_t alignment = 0;
  uint64_t metadata_count = 0;
  std::string architecture;             // general.architecture ("" if absent)
  std::string name;                     // general.name
  std::optional<uint64_t> file_type;    // general.file_type (LLAMA_FTYPE)
  std::string file_type_name;           // "Q4_K_M", or "" when unknown
  std::optional<uint64_t> quantization_version;
  ModelShapes shapes;
  uint64_t parameter_count = 0;         // sum of tensor elements
  uint64_t tensor_count = 0;
  uint64_t tensor_bytes = 0;
  std::vector<TensorTypeStats> types;   // most bytes first
  // Tokenizer.
  std::string vocab_model;              // tokenizer.ggml.model: "gpt2", "llama"
  std::string vocab_pre;                // tokenizer.ggml.pre
  uint64_t vocab_size = 0;              // tokens in tokenizer.ggml.tokens
  uint64_t merges_count = 0;
  std::optional<int64_t> bos_id, eos_id, eot_id;
  std::optional<bool> add_bos;
  bool has_chat_template = false;
  uint64_t chat_template_bytes = 0;
};

// Never throws for a file that opened: fields that are missing or malformed stay empty.
ModelInfo read_model_info(const gguf::GgufFile& file);

// Human-readable, several lines, ending in a newline.
std::string format_model_info(const ModelInfo& info);

// llama.cpp's names for general.file_type ("MOSTLY_Q4_K_M" -> "Q4_K_M"); "" when unknown.
std::string llama_file_type_name(uint64_t file_type);

}  // namespace hearth
