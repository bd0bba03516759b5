#pragma once
// SentencePiece's BPE model ("llama" in GGUF): the text is normalized (dummy-prefix space, ' ' ->
// U+2581, each ill-formed UTF-8 byte -> U+FFFD), split into characters, and the adjacent pair whose
// concatenation is a piece with the highest score is merged, again and again (ties: leftmost).
// Symbols that end up outside the vocabulary fall back to <0xXX> byte tokens, or <unk>.
//
// With vocab.merges (a Hugging Face tokenizer.json "BPE" model with byte fallback, e.g. Llama 2 or
// Gemma), the pair with the lowest merge rank is merged instead (ties: leftmost), as Hugging
// Face's BPE does: scores are then ignored.
//
// Speed: merges run on a linked list of symbols with a heap of candidate pairs (O(n log n)). No
// merge can cross the point before a word's U+2581 unless some mergeable piece has U+2581 right
// after the character before that point, so the text is cut there and each word is merged on its
// own: same result, small heaps, and each distinct word of a text is merged once. (Gemma 3 has one
// such character, '>'; Llama 2 none.) (Unused pieces are split back into the parts that formed
// them within their word; SentencePiece keeps that record for the whole text, which differs only
// when one unused piece forms from different parts in different words.)
#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/tokenizer/piece_table.h"
#include "core/tokenizer/special_tokens.h"
#include "core/tokenizer/vocabulary.h"

namespace hearth {

class SpmTokenizer final : public Tokenizer {
 public:
  // vocab must be validated. split_words false always merges whole fragments (tests compare both).
  explicit SpmTokenizer(Vocabulary vocab, bool split_words = true);

  std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool render_special = false) const override;
  std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const override;

  int32_t vocab_size() const override { return vocab_.size(); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos_by_default() const override { return vocab_.add_bos; }
  bool is_end_of_generation(TokenId id) const override { return vocab_.is_end_of_generation(id); }

  // Whether every word is merged on its own (see above); for tests.
  bool splits_words() const { return split_before_space_ && chars_before_inner_space_.empty(); }

 private:
  struct Workspace;

  // Encodes one plain-text fragment, appending ids.
  void encode_fragment(std::string_view text, bool add_prefix, Workspace& ws, std::vector<TokenId>& out) const;
  // Merges one normalized chunk (well-formed UTF-8) and appends its ids.
  void encode_chunk(std::string_view chunk, Workspace& ws, std::vector<TokenId>& out) const;
  void try_add_pair(std::string_view chunk, int32_t left, int32_t right, Workspace& ws) const;
  void emit_symbol(std::string_view piece, Workspace& ws, std::vector<TokenId>& out) const;
  static uint64_t rank_key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  Vocabulary vocab_;
  // Views into vocab_.tokens. Pieces merges may produce (normal, user-defined, unused), and all.
  PieceTable mergeable_;
  PieceTable all_pieces_;
  std::array<TokenId, 256> byte_tokens_{};
  bool has_byte_tokens_ = false;
  bool split_before_space_ = false;
  std::unordered_set<uint32_t> chars_before_inner_space_;  // no word boundary after these
  SpecialTokenMatcher specials_;
  // Rank mode (vocab.merges given): (left id, right id) -> rank, ids of all_pieces_.
  bool by_rank_ = false;
  struct RankedMerge {
    int32_t rank;
    TokenId result;
  };
  std::unordered_map<uint64_t, RankedMerge> pair_ranks_;
};

}  // namespace hearth
