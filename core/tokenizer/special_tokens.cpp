#include "core/tokenizer/special_tokens.h"

#include <algorithm>

namespace hearth {

SpecialTokenMatcher::SpecialTokenMatcher(const Vocabulary& vocab) {
  for (TokenId id = 0; id < vocab.size(); ++id) {
    // <unk> too, as Hugging Face and llama.cpp cut it out of trusted text.
    const bool candidate = vocab.is_special(id) || vocab.type_of(id) == TokenType::kUnknown;
    if (!candidate || vocab.tokens[id].empty()) continue;
    const auto first = static_cast<uint8_t>(vocab.tokens[id][0]);
    const bool control = vocab.type_of(id) != TokenType::kUserDefined;
    by_first_byte_[first].push_back({vocab.tokens[id], id, control});
    any_ = true;
    any_user_defined_ = any_user_defined_ || !control;
  }
  for (auto& candidates : by_first_byte_) {
    // Stable: equal texts keep id order, so the lowest id is tried first.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.text.size() > b.text.size(); });
  }
}

std::vector<TextFragment> SpecialTokenMatcher::split(std::string_view text, bool parse_special) const {
  std::vector<TextFragment> fragments;
  if (!any_ || (!parse_special && !any_user_defined_)) {
    if (!text.empty()) fragments.push_back({text, -1});
    return fragments;
  }
  size_t plain_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto& candidates = by_first_byte_[static_cast<uint8_t>(text[pos])];
    const Candidate* found = nullptr;
    for (const Candidate& candidate : candidates) {
      if ((parse_special || !candidate.control) && text.substr(pos).starts_with(candidate.text)) {
        found = &candidate;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    if (pos > plain_start) fragments.push_back({text.substr(plain_start, pos - plain_start), -1});
    fragments.push_back({{}, found->id});
    pos += found->text.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) fragments.push_back({text.substr(plain_start), -1});
  return fragments;
}

}  // namespace hearth
