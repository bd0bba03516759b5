#pragma once
// Byte-level BPE ("gpt2" in GGUF; GPT-2, Llama 3, Qwen2, ...): special tokens are cut out first
// (only for trusted text), the rest is cut into words by the pre-tokenizer regexes, each word's
// bytes are spelled as GPT-2 byte characters, and the adjacent pair with the lowest merge rank is
// merged until no pair has a rank (ties: leftmost). Results are cached per word.
#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/piece_table.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/special_tokens.h"
#include "core/tokenizer/unicode_normalizer.h"
#include "core/tokenizer/vocabulary.h"

namespace hearth {

class BpeTokenizer final : public Tokenizer {
 public:
  // vocab must be validated. Throws FormatError for an unknown pre-tokenizer or a merge whose
  // parts or result are not tokens.
  explicit BpeTokenizer(Vocabulary vocab);

  std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool render_special = false) const override;
  std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const override;

  // Whether the pre-tokenizer `pre` belongs to a model whose tokenizer.json sets "ignore_merges"
  // (a word that is itself a token is that token).
  static bool pre_ignores_merges(std::string_view pre);

  int32_t vocab_size() const override { return vocab_.size(); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos_by_default() const override { return vocab_.add_bos; }
  bool is_end_of_generation(TokenId id) const override { return vocab_.is_end_of_generation(id); }

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };
  static uint64_t pair_key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;  // uncached

  Vocabulary vocab_;
  PreTokenizer pre_tokenizer_;
  ByteLevelMap byte_map_;
  SpecialTokenMatcher specials_;
  NfcNormalizer nfc_;                 // used when vocab_.normalization is kNfc
  PieceTable token_ids_;              // views into vocab_.tokens
  std::array<TokenId, 256> byte_ids_{};  // the token of each byte's character, or -1
  std::unordered_map<uint64_t, Merge> merges_;               // (left id, right id) -> rank, result
  bool ignore_merges_ = false;  // Llama 3, gpt-oss: a word that is a token is that token, merges or not

  static constexpr size_t kMaxCachedWords = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace hearth
