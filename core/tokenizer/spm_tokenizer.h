#pragma once
// SentencePiece's BPE model ("llama" in GGUF): the text is normalized (dummy-prefix space, ' ' ->
// U+2581, each ill-formed UTF-8 byte -> U+FFFD), split into characters, and the adjacent pair whose
// concatenation is a piece with the highest score is merged, again and again (ties: leftmost).
// Symbols that end up outside the vocabulary fall back to <0xXX> byte tokens, or <unk>.
//
// Speed: merges run on a linked list of symbols with a heap of candidate pairs (O(n log n)). When
// no mergeable piece has U+2581 right after another character, no merge can cross the point
// before a word's U+2581, so each word is merged on its own: same result, small heaps, and each
// distinct word of a text is merged once. (Unused pieces are split back into the parts that formed
// them within their word; SentencePiece keeps that record for the whole text, which differs only
// when one unused piece forms from different parts in different words.)
#include <array>
#include <string>
#include <string_view>
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

  // Whether words are merged one at a time (see above); for tests.
  bool splits_words() const { return split_before_space_; }

 private:
  struct Workspace;

  // Encodes one plain-text fragment, appending ids.
  void encode_fragment(std::string_view text, bool add_prefix, Workspace& ws, std::vector<TokenId>& out) const;
  // Merges one normalized chunk (well-formed UTF-8) and appends its ids.
  void encode_chunk(std::string_view chunk, Workspace& ws, std::vector<TokenId>& out) const;
  void try_add_pair(std::string_view chunk, int32_t left, int32_t right, Workspace& ws) const;
  void emit_symbol(std::string_view piece, Workspace& ws, std::vector<TokenId>& out) const;

  Vocabulary vocab_;
  // Views into vocab_.tokens. Pieces merges may produce (normal, user-defined, unused), and all.
  PieceTable mergeable_;
  PieceTable all_pieces_;
  std::array<TokenId, 256> byte_tokens_{};
  bool has_byte_tokens_ = false;
  bool split_before_space_ = false;
  SpecialTokenMatcher specials_;
};

}  // namespace hearth
