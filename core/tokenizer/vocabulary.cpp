#include "core/tokenizer/vocabulary.h"

#include <array>
#include <string_view>

#include "core/common/error.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/spm_tokenizer.h"

namespace hearth {
namespace {

void check_id(const char* what, TokenId id, int32_t n_tokens) {
  if (id < -1 || id >= n_tokens) {
    throw FormatError("tokenizer: " + std::string(what) + " token id " + std::to_string(id) +
                      " is outside the vocabulary of " + std::to_string(n_tokens) + " tokens");
  }
}

}  // namespace

void Vocabulary::validate() const {
  if (tokens.empty()) throw FormatError("tokenizer: the vocabulary has no tokens");
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) throw FormatError("tokenizer: too many tokens");
  if (!scores.empty() && scores.size() != tokens.size()) {
    throw FormatError("tokenizer: " + std::to_string(scores.size()) + " scores for " +
                      std::to_string(tokens.size()) + " tokens");
  }
  if (!types.empty() && types.size() != tokens.size()) {
    throw FormatError("tokenizer: " + std::to_string(types.size()) + " token types for " +
                      std::to_string(tokens.size()) + " tokens");
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const auto t = static_cast<int32_t>(types[i]);
    if (t < 1 || t > 6) {
      throw FormatError("tokenizer: token " + std::to_string(i) + " has unknown type " + std::to_string(t));
    }
  }
  if (normalization != Normalization::kNone && model != TokenizerModel::kByteLevelBpe) {
    throw FormatError("tokenizer: Unicode normalization is supported only for byte-level BPE vocabularies");
  }
  const int32_t n = size();
  check_id("BOS", bos, n);
  check_id("EOS", eos, n);
  check_id("EOT", eot, n);
  check_id("EOM", eom, n);
  check_id("unknown", unk, n);
  check_id("padding", pad, n);
}

bool Vocabulary::is_end_of_generation(TokenId id) const {
  if (id < 0 || id >= size()) return false;
  if (id == eos || id == eot || id == eom) return true;
  if (type_of(id) != TokenType::kControl) return false;
  static constexpr std::array<std::string_view, 5> kEndMarkers = {
      "<|eot_id|>", "<|im_end|>", "<|end_of_text|>", "<end_of_turn>", "<|endoftext|>"};
  for (std::string_view marker : kEndMarkers) {
    if (tokens[id] == marker) return true;
  }
  return false;
}

std::unique_ptr<Tokenizer> make_tokenizer(Vocabulary vocab) {
  vocab.validate();
  switch (vocab.model) {
    case TokenizerModel::kSentencePiece:
      return std::make_unique<SpmTokenizer>(std::move(vocab));
    case TokenizerModel::kByteLevelBpe:
      return std::make_unique<BpeTokenizer>(std::move(vocab));
  }
  throw FormatError("tokenizer: unknown tokenizer model");
}

}  // namespace hearth
