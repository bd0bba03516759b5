#pragma once
// UTF-8 helpers shared by the tokenizers and the streaming decoder. "Well-formed" follows
// Unicode 15 table 3-7: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::utf8 {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

enum class ScanKind {
  kComplete,    // a well-formed sequence of `length` bytes
  kIncomplete,  // the input ends after `length` bytes that are a valid prefix of a sequence
  kInvalid,     // `length` bytes (>= 1) are the maximal subpart of an ill-formed sequence: one U+FFFD
};

struct Scan {
  ScanKind kind;
  size_t length;
};

// Looks at the sequence starting at s[pos] (pos < s.size()).
Scan scan_sequence(std::string_view s, size_t pos);

// Length of the well-formed sequence at s[pos], or 0 when there is none (ill-formed or cut short).
inline size_t valid_sequence_length(std::string_view s, size_t pos) {
  const Scan scan = scan_sequence(s, pos);
  return scan.kind == ScanKind::kComplete ? scan.length : 0;
}

// Code point of a well-formed sequence of `length` bytes at s[pos].
uint32_t decode_sequence(std::string_view s, size_t pos, size_t length);

// Appends the UTF-8 form of `cp` (cp <= 0x10FFFF, not a surrogate).
void append_codepoint(std::string& out, uint32_t cp);

bool is_valid(std::string_view s);

// `s` with every ill-formed part replaced by U+FFFD, one per maximal subpart (the WHATWG rule).
std::string sanitize(std::string_view s);

}  // namespace hearth::utf8
