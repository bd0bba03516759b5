// Tokenizer::from_gguf: the tokenizer.ggml.* keys -> Vocabulary -> a tokenizer. Kept apart from
// vocabulary.cpp so code that builds vocabularies by hand does not link the GGUF reader.
#include <cstdint>
#include <string>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_import.h"
#include "core/tokenizer/vocabulary.h"

namespace hearth {
namespace {

TokenId read_token_id(const gguf::GgufFile& file, const std::string& key, TokenId fallback) {
  const std::optional<int64_t> value = file.get_int(key);
  if (!value) return fallback;
  // Converters write -1 for "none", which an unsigned key holds as 0xFFFFFFFF.
  if (*value < 0 || *value == UINT32_MAX) return -1;
  if (*value > INT32_MAX) throw FormatError("tokenizer: " + key + " = " + std::to_string(*value) + " is too large");
  return static_cast<TokenId>(*value);
}

// hearth.tokenizer.normalizer ("none" or "nfc", written by convert-tokenizer). Files from other
// converters lack it: Qwen2-family tokenizer.json files all normalize to NFC, so "qwen2" does too.
Normalization normalization_from_gguf(const gguf::GgufFile& file, const Vocabulary& vocab) {
  const std::optional<std::string> name = file.get_string(std::string(kNormalizerKey));
  if (!name) {
    const bool qwen = vocab.model == TokenizerModel::kByteLevelBpe && vocab.pre == "qwen2";
    return qwen ? Normalization::kNfc : Normalization::kNone;
  }
  if (*name == "none") return Normalization::kNone;
  if (*name == "nfc") return Normalization::kNfc;
  throw FormatError("tokenizer: unknown " + std::string(kNormalizerKey) + " = \"" + *name + "\"");
}

Vocabulary vocabulary_from_gguf(const gguf::GgufFile& file) {
  Vocabulary vocab;
  const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
  if (!model) throw FormatError("tokenizer: the file has no tokenizer.ggml.model");
  if (*model == "llama") {
    vocab.model = TokenizerModel::kSentencePiece;
    vocab.bos = 1, vocab.eos = 2, vocab.unk = 0;
    vocab.add_bos = true;
    vocab.add_space_prefix = true;
  } else if (*model == "gpt2") {
    vocab.model = TokenizerModel::kByteLevelBpe;
    vocab.add_space_prefix = false;
    vocab.pre = file.get_string("tokenizer.ggml.pre").value_or("default");
  } else {
    throw FormatError("tokenizer: unsupported tokenizer model tokenizer.ggml.model = \"" + *model + "\"");
  }

  std::optional<std::vector<std::string>> tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (!tokens) throw FormatError("tokenizer: the file has no tokenizer.ggml.tokens");
  vocab.tokens = std::move(*tokens);
  // Defaults that point past a tiny vocabulary are dropped; ids the file names are checked later.
  for (TokenId* id : {&vocab.bos, &vocab.eos, &vocab.unk}) {
    if (*id >= vocab.size()) *id = -1;
  }
  if (auto scores = file.get_float_array("tokenizer.ggml.scores")) vocab.scores = std::move(*scores);
  if (auto types = file.get_int_array("tokenizer.ggml.token_type")) {
    vocab.types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const int64_t t = (*types)[i];
      if (t == 0) {
        vocab.types.push_back(TokenType::kNormal);  // "undefined" in llama.cpp's numbering
      } else if (t >= 1 && t <= 6) {
        vocab.types.push_back(static_cast<TokenType>(t));
      } else {
        throw FormatError("tokenizer: token " + std::to_string(i) + " has unknown type " + std::to_string(t));
      }
    }
  }
  if (auto merges = file.get_string_array("tokenizer.ggml.merges")) vocab.merges = std::move(*merges);

  vocab.bos = read_token_id(file, "tokenizer.ggml.bos_token_id", vocab.bos);
  vocab.eos = read_token_id(file, "tokenizer.ggml.eos_token_id", vocab.eos);
  vocab.eot = read_token_id(file, "tokenizer.ggml.eot_token_id", vocab.eot);
  vocab.eom = read_token_id(file, "tokenizer.ggml.eom_token_id", vocab.eom);
  vocab.unk = read_token_id(file, "tokenizer.ggml.unknown_token_id", vocab.unk);
  vocab.pad = read_token_id(file, "tokenizer.ggml.padding_token_id", vocab.pad);
  if (vocab.pad >= vocab.size()) vocab.pad = -1;  // unused here; not worth rejecting a model for
  vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(vocab.add_bos);
  vocab.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(vocab.add_eos);
  vocab.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(vocab.add_space_prefix);
  vocab.normalization = normalization_from_gguf(file, vocab);
  return vocab;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::GgufFile& file) {
  return make_tokenizer(vocabulary_from_gguf(file));
}

}  // namespace hearth
