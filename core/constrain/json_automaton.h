#pragma once
// An incremental JSON syntax automaton over bytes (RFC 8259, as nlohmann::json::accept reads it):
// feed() one byte at a time; it says at once when a byte can no longer lead to a valid document.
// Strings are checked as UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF), \u escapes
// must pair surrogates, control characters must be escaped.
//
// The state is a few bytes (the container stack is a bit per level), so callers copy it freely:
// the token mask walks a trie of token bytes with one copy per branch (token_trie.h).
//
// Limits keep a sampled model from looping where JSON allows unbounded filler: a run of
// whitespace longer than max_whitespace_run bytes (or with more than max_newline_run newlines),
// or nesting deeper than max_depth, is refused. start_closing() makes it accept only the
// shortest ways to finish (no new members, elements, string bytes or whitespace), so a generation
// about to run out of tokens can still end as a whole document: at most depth() + 17 bytes more
// (an unfinished surrogate-pair escape, the string, a colon, "false", the closers).
#include <cstdint>

namespace hearth::constrain {

struct JsonLimits {
  int max_depth = 32;            // at most kMaxJsonDepth
  int max_whitespace_run = 16;   // consecutive whitespace bytes between tokens
  int max_newline_run = 1;       // newlines among them (models like to loop on blank lines)
  bool object_at_top = false;    // the document must be an object (response_format json_object)
  // Numbers every parser reads as a finite double (nlohmann::json refuses 1e400 as an overflow),
  // and a model cannot loop on digits: at most this many digits before the exponent, and in it.
  int max_number_digits = 32;
  int max_exponent_digits = 2;
  bool operator==(const JsonLimits&) const = default;
};

inline constexpr int kMaxJsonDepth = 64;  // the container stack is one uint64_t

class JsonAutomaton {
 public:
  explicit JsonAutomaton(JsonLimits limits = {});

  // Advances by one byte. false: no valid document continues this way; the automaton is then
  // unusable (feed copies when trying alternatives).
  bool feed(uint8_t byte);

  // The top-level value is closed: nothing but whitespace may follow. (A top-level number is
  // never "closed", since another digit could follow; see can_end().)
  bool complete() const { return mode_ == Mode::kDone; }
  // The bytes so far are a whole valid document (complete(), or a finished top-level number).
  bool can_end() const;
  int depth() const { return depth_; }
  void start_closing() { closing_ = true; }
  // Equal automata accept exactly the same continuations (the mask cache relies on it).
  bool operator==(const JsonAutomaton&) const = default;

 private:
  enum class Mode : uint8_t {
    kValue,          // a value must come
    kValueOrClose,   // after '[': a value or ']'
    kKeyOrClose,     // after '{': a key or '}'
    kKey,            // after ',' in an object: a key
    kColon,          // after a key
    kAfterValue,     // inside a container after a value: ',' or the closer
    kDone,           // the top-level value is closed
    kString,
    kEscape,         // after '\'
    kHex,            // inside \uXXXX
    kLowBackslash,   // after a high surrogate escape: '\' of the low one must follow
    kLowU,           // then 'u'
    kUtf8,           // inside a multi-byte UTF-8 character
    kNumber,
    kLiteral,        // true / false / null
  };
  enum class Num : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };

  bool start_value(uint8_t byte);
  bool structural(uint8_t byte);
  bool string_byte(uint8_t byte);
  bool hex_digit(uint8_t byte);
  bool number_byte(uint8_t byte);
  bool push(bool object);
  bool close(bool object);
  void value_done();
  bool top_is_object() const { return depth_ > 0 && ((stack_ >> (depth_ - 1)) & 1u) != 0; }
  static bool number_can_end(Num n) { return n == Num::kZero || n == Num::kInt || n == Num::kFrac || n == Num::kExp; }

  JsonLimits limits_;
  uint64_t stack_ = 0;        // bit d: level d+1 is an object (else an array)
  int16_t depth_ = 0;
  int16_t whitespace_run_ = 0;
  Mode mode_ = Mode::kValue;
  Num num_ = Num::kMinus;
  bool string_is_key_ = false;
  bool low_surrogate_ = false;  // the \u escape being read must be a low surrogate
  uint8_t hex_digits_ = 0;      // \u digits read so far
  uint8_t hex_high_byte_ = 0;   // the first two digits' value
  uint8_t utf8_left_ = 0;       // continuation bytes still due
  uint8_t utf8_lo_ = 0x80, utf8_hi_ = 0xBF;  // the range of the next continuation byte
  uint8_t literal_ = 0, literal_at_ = 0;     // which literal, bytes matched
  int16_t newline_run_ = 0;
  int16_t number_digits_ = 0;   // digits of the number being read (mantissa, then exponent)
  bool closing_ = false;
};

}  // namespace hearth::constrain
