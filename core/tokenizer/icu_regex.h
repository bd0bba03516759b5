#pragma once
// One pre-tokenizer expression run by ICU's regex engine (icu::RegexPattern), for text that
// PCRE2's Unicode tables are too old for (see unicode_data.h). It matches like the PCRE2 path
// in pre_tokenizer.cpp, including on ill-formed UTF-8: such bytes never match and a match never
// spans them; at their edges, lookarounds see the end of the text, and $ does not match.
// The compiled pattern is immutable and may be shared by threads; each call makes its own matcher.
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {

class IcuRegex {
 public:
  // `pattern` in ICU syntax (UTF-8). Throws Error when it does not compile or ICU is missing.
  explicit IcuRegex(std::string_view pattern);
  ~IcuRegex();
  IcuRegex(IcuRegex&&) noexcept;
  IcuRegex& operator=(IcuRegex&&) noexcept;

  // The non-overlapping non-empty matches in `text`, leftmost first, as byte ranges [begin, end).
  // Appends to `matches`.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace hearth
