#pragma once
// Byte-level BPE pre-tokenization: the text is cut into words by the regular expressions of the
// model's Hugging Face tokenizer.json (chosen by tokenizer.ggml.pre), before any merge. Several
// expressions apply in sequence, each to the pieces of the one before, like a Sequence of
// Split(behavior "Isolated") pre-tokenizers: matches and the text between them both become pieces.
// PCRE2 runs them with UTF and Unicode properties (\p{L}, \p{N}, \s as Unicode whitespace); bytes
// that are not well-formed UTF-8 never match and so end up as pieces of their own.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class PreTokenizer {
 public:
  // Throws FormatError naming `pre` when it is not a known pre-tokenizer.
  explicit PreTokenizer(std::string_view pre);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // The expressions for `pre`, in order (the same FormatError for unknown names).
  static std::vector<std::string> patterns_for(std::string_view pre);

  // Views into `text`, in order, covering it exactly.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace hearth
