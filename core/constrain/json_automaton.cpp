#include "core/constrain/json_automaton.h"

#include <algorithm>

namespace hearth::constrain {

namespace {

constexpr const char* kLiterals[] = {"true", "false", "null"};
constexpr uint8_t kLiteralLength[] = {4, 5, 4};

bool is_whitespace(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

}  // namespace

JsonAutomaton::JsonAutomaton(JsonLimits limits) : limits_(limits) {
  limits_.max_depth = std::clamp(limits_.max_depth, 1, kMaxJsonDepth);
  limits_.max_whitespace_run = std::clamp(limits_.max_whitespace_run, 0, 30000);
  limits_.max_newline_run = std::clamp(limits_.max_newline_run, 0, 30000);
  limits_.max_number_digits = std::clamp(limits_.max_number_digits, 1, 30000);
  limits_.max_exponent_digits = std::clamp(limits_.max_exponent_digits, 1, 30000);
}

bool JsonAutomaton::can_end() const {
  return mode_ == Mode::kDone || (mode_ == Mode::kNumber && depth_ == 0 && number_can_end(num_));
}

bool JsonAutomaton::feed(uint8_t b) {
  switch (mode_) {
    case Mode::kString: return string_byte(b);
    case Mode::kEscape:
      if (b == 'u' && !closing_) {
        mode_ = Mode::kHex;
        hex_digits_ = 0;
        low_surrogate_ = false;
        return true;
      }
      if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't') {
        mode_ = Mode::kString;
        return true;
      }
      return false;
    case Mode::kHex: return hex_digit(b);
    case Mode::kLowBackslash:
      if (b != '\\') return false;
      mode_ = Mode::kLowU;
      return true;
    case Mode::kLowU:
      if (b != 'u') return false;
      mode_ = Mode::kHex;
      hex_digits_ = 0;
      low_surrogate_ = true;
      return true;
    case Mode::kUtf8:
      if (b < utf8_lo_ || b > utf8_hi_) return false;
      utf8_lo_ = 0x80;
      utf8_hi_ = 0xBF;
      if (--utf8_left_ == 0) mode_ = Mode::kString;
      return true;
    case Mode::kNumber: return number_byte(b);
    case Mode::kLiteral:
      if (b != static_cast<uint8_t>(kLiterals[literal_][literal_at_])) return false;
      if (++literal_at_ == kLiteralLength[literal_]) value_done();
      return true;
    default: return structural(b);
  }
}

// The modes between tokens: whitespace (bounded), then the punctuation or value that may come.
bool JsonAutomaton::structural(uint8_t b) {
  if (is_whitespace(b)) {
    if (closing_) return false;
    if (b == '\n' && ++newline_run_ > limits_.max_newline_run) return false;
    return ++whitespace_run_ <= limits_.max_whitespace_run;
  }
  whitespace_run_ = 0;
  newline_run_ = 0;
  switch (mode_) {
    case Mode::kValue: return start_value(b);
    case Mode::kValueOrClose:
      if (b == ']') return close(false);
      return !closing_ && start_value(b);
    case Mode::kKeyOrClose:
      if (b == '}') return close(true);
      if (closing_) return false;
      [[fallthrough]];
    case Mode::kKey:
      if (b != '"') return false;
      mode_ = Mode::kString;
      string_is_key_ = true;
      return true;
    case Mode::kColon:
      if (b != ':') return false;
      mode_ = Mode::kValue;
      return true;
    case Mode::kAfterValue:
      if (b == ',' && !closing_) {
        mode_ = top_is_object() ? Mode::kKey : Mode::kValue;
        return true;
      }
      if (b == '}' || b == ']') return close(b == '}');
      return false;
    default: return false;  // kDone: only whitespace
  }
}

bool JsonAutomaton::start_value(uint8_t b) {
  if (depth_ == 0 && limits_.object_at_top && b != '{') return false;
  switch (b) {
    case '{': return push(true);
    case '[': return push(false);
    case '"':
      mode_ = Mode::kString;
      string_is_key_ = false;
      return true;
    case '-': mode_ = Mode::kNumber; num_ = Num::kMinus; number_digits_ = 0; return true;
    case '0': mode_ = Mode::kNumber; num_ = Num::kZero; number_digits_ = 1; return true;
    case 't': case 'f': case 'n':
      mode_ = Mode::kLiteral;
      literal_ = b == 't' ? 0 : b == 'f' ? 1 : 2;
      literal_at_ = 1;
      return true;
    default:
      if (b >= '1' && b <= '9') {
        mode_ = Mode::kNumber;
        num_ = Num::kInt;
        number_digits_ = 1;
        return true;
      }
      return false;
  }
}

bool JsonAutomaton::push(bool object) {
  if (depth_ >= limits_.max_depth) return false;
  if (object) stack_ |= uint64_t{1} << depth_;
  else stack_ &= ~(uint64_t{1} << depth_);
  ++depth_;
  mode_ = object ? Mode::kKeyOrClose : Mode::kValueOrClose;
  return true;
}

bool JsonAutomaton::close(bool object) {
  if (depth_ == 0 || top_is_object() != object) return false;
  --depth_;
  value_done();
  return true;
}

void JsonAutomaton::value_done() { mode_ = depth_ == 0 ? Mode::kDone : Mode::kAfterValue; }

bool JsonAutomaton::string_byte(uint8_t b) {
  if (b == '"') {
    if (string_is_key_) mode_ = Mode::kColon;
    else value_done();
    return true;
  }
  if (closing_) return false;  // only the closing quote
  if (b == '\\') {
    mode_ = Mode::kEscape;
    return true;
  }
  if (b < 0x20) return false;  // control characters must be escaped
  if (b < 0x80) return true;
  // UTF-8 lead bytes and the range of the first continuation byte (RFC 3629, table 3-7).
  utf8_lo_ = 0x80;
  utf8_hi_ = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) utf8_left_ = 1;
  else if (b == 0xE0) { utf8_left_ = 2; utf8_lo_ = 0xA0; }
  else if (b >= 0xE1 && b <= 0xEC) utf8_left_ = 2;
  else if (b == 0xED) { utf8_left_ = 2; utf8_hi_ = 0x9F; }  // no UTF-16 surrogates
  else if (b == 0xEE || b == 0xEF) utf8_left_ = 2;
  else if (b == 0xF0) { utf8_left_ = 3; utf8_lo_ = 0x90; }
  else if (b >= 0xF1 && b <= 0xF3) utf8_left_ = 3;
  else if (b == 0xF4) { utf8_left_ = 3; utf8_hi_ = 0x8F; }  // nothing past U+10FFFF
  else return false;
  mode_ = Mode::kUtf8;
  return true;
}

// \uXXXX: a high surrogate (D800-DBFF) must be followed by \u and a low one (DC00-DFFF); a low
// surrogate alone is invalid. Both are decided by the first two digits.
bool JsonAutomaton::hex_digit(uint8_t b) {
  const int v = hex_value(b);
  if (v < 0) return false;
  ++hex_digits_;
  // Decided as early as possible, so every accepted prefix can still be completed.
  if (hex_digits_ == 1 && low_surrogate_ && v != 0xD) return false;
  if (hex_digits_ == 1) hex_high_byte_ = static_cast<uint8_t>(v << 4);
  if (hex_digits_ == 2) {
    hex_high_byte_ = static_cast<uint8_t>(hex_high_byte_ | v);
    const bool low = hex_high_byte_ >= 0xDC && hex_high_byte_ <= 0xDF;
    if (low != low_surrogate_) return false;
  }
  if (hex_digits_ == 4) {
    const bool high = hex_high_byte_ >= 0xD8 && hex_high_byte_ <= 0xDB;
    mode_ = high && !low_surrogate_ ? Mode::kLowBackslash : Mode::kString;
  }
  return true;
}

bool JsonAutomaton::number_byte(uint8_t b) {
  if (closing_ && number_can_end(num_)) {  // no more digits: the number ends here
    value_done();
    return feed(b);
  }
  const bool in_exponent = num_ == Num::kE || num_ == Num::kESign || num_ == Num::kExp;
  if (is_digit(b) && num_ != Num::kZero) {
    // A digit continues the number (after "0" it cannot: "01" is not JSON).
    if (++number_digits_ > (in_exponent ? limits_.max_exponent_digits : limits_.max_number_digits)) return false;
    if (num_ == Num::kMinus) num_ = b == '0' ? Num::kZero : Num::kInt;
    else if (num_ == Num::kDot) num_ = Num::kFrac;
    else if (num_ == Num::kE || num_ == Num::kESign) num_ = Num::kExp;
    return true;
  }
  switch (num_) {
    case Num::kMinus:
    case Num::kDot:
    case Num::kESign:
      return false;  // a digit must come
    case Num::kZero:
    case Num::kInt:
    case Num::kFrac:
      if (b == '.' && num_ != Num::kFrac) {
        num_ = Num::kDot;
        return true;
      }
      if (b == 'e' || b == 'E') {
        num_ = Num::kE;
        number_digits_ = 0;  // the exponent's digits are counted on their own
        return true;
      }
      break;
    case Num::kE:
      if (b == '+' || b == '-') {
        num_ = Num::kESign;
        return true;
      }
      return false;
    case Num::kExp:
      break;
  }
  // The number ended before this byte; the byte belongs to what follows the value.
  if (!number_can_end(num_)) return false;
  value_done();
  return feed(b);
}

}  // namespace hearth::constrain
