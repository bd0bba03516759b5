#pragma once
// Finds control and user-defined token texts in trusted text (chat templates), so
// "<|im_start|>user" becomes [<|im_start|>] + "user". Leftmost match wins; among the tokens that
// match there, the longest; among equal texts, the lowest id.
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tokenizer/vocabulary.h"

namespace hearth {

struct TextFragment {
  std::string_view text;  // plain text when token < 0
  TokenId token = -1;     // a special token found in the input
};

class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocabulary& vocab);

  // The fragments of `text` in order; with parse_special false, `text` as one plain fragment.
  std::vector<TextFragment> split(std::string_view text, bool parse_special) const;

 private:
  // Candidates by first byte, longest first: [(text, id)].
  std::array<std::vector<std::pair<std::string, TokenId>>, 256> by_first_byte_;
  bool any_ = false;
};

}  // namespace hearth
