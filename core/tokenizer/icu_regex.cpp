#include "core/tokenizer/icu_regex.h"

#include <cstdint>
#include <string>

#include "core/common/error.h"
#include "core/tokenizer/utf8.h"

#ifdef HEARTH_HAVE_ICU
#include <unicode/regex.h>
#include <unicode/unistr.h>
#endif

namespace hearth {

#ifdef HEARTH_HAVE_ICU

namespace {

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) throw Error(std::string("tokenizer: ICU regex ") + what + " failed: " + u_errorName(status));
}

// `text` as UTF-16 for ICU, with the byte offset of every UTF-16 index (and of the end), and the
// well-formed runs as UTF-16 ranges. Each ill-formed part becomes one U+FFFD, which lies outside
// every run and so is never looked at.
struct Utf16Text {
  std::u16string units;
  std::vector<size_t> byte_offset;                  // [units.size() + 1]
  std::vector<std::pair<int32_t, int32_t>> runs;    // [begin, end) in units
};

Utf16Text to_utf16(std::string_view text) {
  if (text.size() > (size_t{1} << 30)) throw Error("tokenizer: text longer than 1 GiB");  // ICU indexes with int32
  Utf16Text out;
  out.units.reserve(text.size());
  out.byte_offset.reserve(text.size() + 1);
  int32_t run_begin = 0;
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Scan scan = utf8::scan_sequence(text, pos);
    if (scan.kind == utf8::ScanKind::kComplete) {
      const uint32_t cp = utf8::decode_sequence(text, pos, scan.length);
      if (cp >= 0x10000) {
        out.units.push_back(static_cast<char16_t>(0xD7C0 + (cp >> 10)));
        out.units.push_back(static_cast<char16_t>(0xDC00 | (cp & 0x3FF)));
        out.byte_offset.push_back(pos);
        out.byte_offset.push_back(pos);  // inside the pair; ICU never ends a match there
      } else {
        out.units.push_back(static_cast<char16_t>(cp));
        out.byte_offset.push_back(pos);
      }
    } else {
      const auto here = static_cast<int32_t>(out.units.size());
      if (here > run_begin) out.runs.emplace_back(run_begin, here);
      out.units.push_back(u'\xFFFD');
      out.byte_offset.push_back(pos);
      run_begin = here + 1;
    }
    pos += scan.length;
  }
  const auto end = static_cast<int32_t>(out.units.size());
  if (end > run_begin) out.runs.emplace_back(run_begin, end);
  out.byte_offset.push_back(text.size());
  return out;
}

}  // namespace

struct IcuRegex::Compiled {
  std::unique_ptr<icu::RegexPattern> pattern;
};

IcuRegex::IcuRegex(std::string_view pattern) : compiled_(std::make_unique<Compiled>()) {
  UErrorCode status = U_ZERO_ERROR;
  UParseError where{};
  const icu::UnicodeString source = icu::UnicodeString::fromUTF8(icu::StringPiece(pattern.data(), static_cast<int32_t>(pattern.size())));
  // UNIX_LINES: only \n ends a line for $, as in PCRE2's default build.
  compiled_->pattern.reset(icu::RegexPattern::compile(source, UREGEX_UNIX_LINES, where, status));
  if (U_FAILURE(status) || !compiled_->pattern) {
    throw Error("tokenizer: pre-tokenizer regex does not compile in ICU at offset " + std::to_string(where.offset) +
                ": " + u_errorName(status));
  }
}

void IcuRegex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  if (text.empty()) return;
  const Utf16Text utf16 = to_utf16(text);
  const icu::UnicodeString subject(false, reinterpret_cast<const UChar*>(utf16.units.data()),
                                   static_cast<int32_t>(utf16.units.size()));  // a read-only alias
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> matcher(compiled_->pattern->matcher(subject, status));
  check(status, "matcher");
  for (const auto& [begin, end] : utf16.runs) {
    // Opaque bounds: lookarounds stop at the run's edges. Non-anchoring bounds: $ matches only at
    // the real end of the text, not before an ill-formed byte.
    matcher->region(begin, end, status);
    matcher->useTransparentBounds(false);
    matcher->useAnchoringBounds(false);
    check(status, "region");
    while (matcher->find(status)) {
      const int32_t match_begin = matcher->start(status), match_end = matcher->end(status);
      check(status, "match");
      if (match_end > match_begin) {
        matches.emplace_back(utf16.byte_offset[static_cast<size_t>(match_begin)], utf16.byte_offset[static_cast<size_t>(match_end)]);
      }
    }
    check(status, "find");
  }
}

#else

struct IcuRegex::Compiled {};

IcuRegex::IcuRegex(std::string_view) { throw Error("tokenizer: Hearth was built without ICU (icu-i18n)"); }

void IcuRegex::find_all(std::string_view, std::vector<std::pair<size_t, size_t>>&) const {}

#endif

IcuRegex::~IcuRegex() = default;
IcuRegex::IcuRegex(IcuRegex&&) noexcept = default;
IcuRegex& IcuRegex::operator=(IcuRegex&&) noexcept = default;

}  // namespace hearth
