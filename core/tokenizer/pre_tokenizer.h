#pragma once
// Byte-level BPE pre-tokenization: the text is cut into words by the regular expressions of the
// model's Hugging Face tokenizer.json (chosen by tokenizer.ggml.pre), before any merge. Several
// expressions apply in sequence, each to the pieces of the one before, like a Sequence of
// Split(behavior "Isolated") pre-tokenizers: matches and the text between them both become pieces.
// \p{L}, \p{N}, ... are Unicode general categories and \s is Unicode White_Space; bytes that are
// not well-formed UTF-8 never match and so end up in the pieces between matches.
//
// Two engines run the same expressions. PCRE2 (JIT) is the fast path. Its Unicode tables are
// older than ICU's on Debian 12 (14.0 against 15.0): a character added since is unassigned to
// PCRE2 but a letter or a symbol to the references (Hugging Face on a current runtime), so a
// piece of text that contains such a character is matched by ICU's regex engine instead.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/unicode_data.h"

namespace hearth {

class PreTokenizer {
 public:
  // Which engine split() uses. kAuto is the one tokenizers use; the others exist so that tests
  // can check that the two engines agree.
  enum class Engine {
    kAuto,   // PCRE2, or ICU for pieces with a character newer than PCRE2's tables
    kPcre2,  // PCRE2 only (wrong for characters newer than its tables)
    kIcu,    // ICU only (throws Error without ICU)
  };

  // Throws FormatError naming `pre` when it is not a known pre-tokenizer.
  explicit PreTokenizer(std::string_view pre);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // The expressions for `pre`, in order, spelled as in tokenizer.json (the same FormatError for
  // unknown names).
  static std::vector<std::string> patterns_for(std::string_view pre);

  // Whether Hearth was built with ICU (without it, kAuto is PCRE2 alone).
  static bool icu_available();

  // Views into `text`, in order, covering it exactly.
  std::vector<std::string_view> split(std::string_view text) const;
  std::vector<std::string_view> split(std::string_view text, Engine engine) const;

 private:
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
  // PCRE2's Unicode version when ICU's is newer (then newer characters go to ICU); else empty.
  std::optional<unicode::Version> pcre2_unicode_;
};

}  // namespace hearth
