#pragma once
// Stop strings over streamed text. Text that could still turn out to be the start of a stop
// string is held back, so a stop string split across tokens is never partly emitted:
//   stops {"\nUser:"}: push("Hi\nUs") -> "Hi" (holds "\nUs"); push("er: x") -> "" and matched().
// Input is whole UTF-8 characters (after Utf8StreamDecoder); the held-back suffix always starts
// at a character boundary because it equals the start of a stop string.
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops = {});

  // Appends text; returns the text that can be emitted now. After a match, the text before the
  // stop string is returned, matched() is true and everything later is dropped.
  std::string push(std::string_view text);
  // At the end of generation (no match): the held-back text.
  std::string flush();
  bool matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
};

}  // namespace hearth
