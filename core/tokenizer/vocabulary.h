#pragma once
// Everything a tokenizer needs, as plain vectors: what a GGUF file's tokenizer.ggml.* keys hold,
// and what tests build by hand or from a SentencePiece model. validate() checks it all before a
// tokenizer is built on it, since it usually comes from an untrusted file.
#include <memory>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace hearth {

// The numbering of SentencePiece's ModelProto and of tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, </s>, <|eot_id|>: text only when parsed from trusted template text
  kUserDefined = 4,  // added tokens that stand for their text
  kUnused = 5,
  kByte = 6,         // <0xXX>, SentencePiece byte fallback
};

enum class TokenizerModel {
  kSentencePiece,  // tokenizer.ggml.model "llama"
  kByteLevelBpe,   // tokenizer.ggml.model "gpt2"
};

// Unicode normalization applied to plain text before pre-tokenization (Hugging Face "normalizer").
enum class Normalization {
  kNone,
  kNfc,  // Qwen2 / 2.5 / 3 ("NFC"); needs ICU (without it, text passes unchanged)
};

struct Vocabulary {
  TokenizerModel model = TokenizerModel::kSentencePiece;
  std::string pre = "default";           // tokenizer.ggml.pre (byte-level BPE only)
  std::vector<std::string> tokens;       // id -> text, as stored (U+2581 / byte-level characters)
  std::vector<float> scores;             // empty, or one per token (SentencePiece merge priority)
  std::vector<TokenType> types;          // empty (all normal), or one per token
  // "left right", best (rank 0) first. Byte-level BPE always has them. A SentencePiece-style
  // vocabulary with merges (imported from a Hugging Face tokenizer.json "BPE" model with byte
  // fallback: Llama 2, Gemma) merges by these pair ranks instead of by piece scores.
  std::vector<std::string> merges;
  Normalization normalization = Normalization::kNone;  // byte-level BPE only
  TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false;                  // tokenizer.ggml.add_bos_token: add_bos_by_default()
  bool add_eos = false;                  // encode(add_bos=true) also appends EOS when this is set
  bool add_space_prefix = true;          // SentencePiece dummy prefix: "Hi" is encoded as " Hi"

  // Throws FormatError: no tokens, array lengths that differ, ids outside [0, size).
  void validate() const;

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  TokenType type_of(TokenId id) const { return types.empty() ? TokenType::kNormal : types[id]; }
  float score_of(TokenId id) const { return scores.empty() ? 0.0f : scores[id]; }
  bool is_special(TokenId id) const {
    const TokenType t = type_of(id);
    return t == TokenType::kControl || t == TokenType::kUserDefined;
  }
  // eos, eot, eom, and control tokens spelled like a chat model's end-of-turn marker.
  bool is_end_of_generation(TokenId id) const;
};

// Validates `vocab` and builds the tokenizer its model names. Throws FormatError.
std::unique_ptr<Tokenizer> make_tokenizer(Vocabulary vocab);

}  // namespace hearth
