#include "core/tokenizer/special_tokens.h"

#include <algorithm>

namespace hearth {

SpecialTokenMatcher::SpecialTokenMatcher(const Vocabulary& vocab) {
  for (TokenId id = 0; id < vocab.size(); ++id) {
    if (!vocab.is_special(id) || vocab.tokens[id].empty()) continue;
    const auto first = static_cast<uint8_t>(vocab.tokens[id][0]);
    by_first_byte_[first].emplace_back(vocab.tokens[id], id);
    any_ = true;
  }
  for (auto& candidates : by_first_byte_) {
    // Stable: equal texts keep id order, so the lowest id is tried first.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
}

std::vector<TextFragment> SpecialTokenMatcher::split(std::string_view text, bool parse_special) const {
  std::vector<TextFragment> fragments;
  if (!parse_special || !any_) {
    if (!text.empty()) fragments.push_back({text, -1});
    return fragments;
  }
  size_t plain_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto& candidates = by_first_byte_[static_cast<uint8_t>(text[pos])];
    const std::pair<std::string, TokenId>* found = nullptr;
    for (const auto& candidate : candidates) {
      if (text.substr(pos).starts_with(candidate.first)) {
        found = &candidate;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    if (pos > plain_start) fragments.push_back({text.substr(plain_start, pos - plain_start), -1});
    fragments.push_back({{}, found->second});
    pos += found->first.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) fragments.push_back({text.substr(plain_start), -1});
  return fragments;
}

}  // namespace hearth
