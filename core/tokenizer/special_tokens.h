#pragma once
// Finds added-token texts in text before the model sees it, like Hugging Face's added-token
// splitter: control tokens only in trusted text (chat templates: "<|im_start|>user" becomes
// [<|im_start|>] + "user"), user-defined tokens (HF "special": false, e.g. Qwen's "<think>",
// Gemma's "\n\n") always, since they stand for their text. Leftmost match wins; among the tokens
// that match there, the longest; among equal texts, the lowest id.
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

  // The fragments of `text` in order; with parse_special false, only user-defined tokens are cut.
  std::vector<TextFragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Candidate {
    std::string text;
    TokenId id;
    bool control;  // matched only when parse_special
  };
  // Candidates by first byte, longest first.
  std::array<std::vector<Candidate>, 256> by_first_byte_;
  bool any_ = false;
  bool any_user_defined_ = false;
};

}  // namespace hearth
