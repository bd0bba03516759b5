#pragma once
// Import of tokenizers made by other tools into a Vocabulary, and the vocabulary-only GGUF that
// `hearth-cli convert-tokenizer` writes from one (the tokenizer.ggml.* keys a full model
// converter writes, so Tokenizer::from_gguf reads it back like any model file).
//
// Both inputs are untrusted: sizes and counts are limited, every id is checked, and anything
// Hearth cannot reproduce exactly (an unknown pre-tokenizer regex, a normalizer or model type it
// does not implement, added-token flags it ignores) is a FormatError that names it, never a
// silently different tokenizer.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tokenizer/vocabulary.h"

namespace hearth {

namespace gguf {
class GgufWriter;
}

// hearth.tokenizer.normalizer: "none" or "nfc" (Vocabulary::normalization).
inline constexpr std::string_view kNormalizerKey = "hearth.tokenizer.normalizer";

struct ImportedTokenizer {
  Vocabulary vocab;
  std::string chat_template;  // tokenizer.chat_template; empty when the source has none
  std::vector<std::pair<std::string, std::string>> named_chat_templates;  // tokenizer.chat_template.<name>
};

struct ImportLimits {
  uint64_t max_file_bytes = uint64_t{256} << 20;  // Gemma 3's tokenizer.json is 33 MB
  uint32_t max_json_depth = 64;
  int32_t max_tokens = 1 << 22;
  uint64_t max_token_bytes = 1 << 16;
  uint64_t max_merges = uint64_t{1} << 23;
  uint64_t max_chat_template_bytes = 1 << 22;
};

// A Hugging Face tokenizer: tokenizer.json text and tokenizer_config.json text (empty when the
// directory has none). Byte-level BPE ("gpt2": Llama 3, Qwen2/2.5/3, DeepSeek V3, gpt-oss, ...)
// and BPE with byte fallback over U+2581 ("llama": Llama 2, Mistral, Gemma 2/3).
ImportedTokenizer import_hf_tokenizer(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                                      const ImportLimits& limits = {});
// Reads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
ImportedTokenizer import_hf_tokenizer_dir(const std::filesystem::path& dir, const ImportLimits& limits = {});

// A SentencePiece model file (the ModelProto protobuf, e.g. Llama 2's tokenizer.model); BPE
// models with the identity normalizer only.
ImportedTokenizer import_sentencepiece_model(std::span<const uint8_t> bytes, const ImportLimits& limits = {});
ImportedTokenizer import_sentencepiece_model_file(const std::filesystem::path& path, const ImportLimits& limits = {});

// Sets the tokenizer.ggml.* keys (and tokenizer.chat_template, general.name when not empty).
void add_tokenizer_metadata(gguf::GgufWriter& writer, const ImportedTokenizer& tokenizer, const std::string& name = {});

// Reads a whole file of at most `max_bytes` (FormatError when larger, Error when unreadable).
std::string read_limited_file(const std::filesystem::path& path, uint64_t max_bytes);

}  // namespace hearth
