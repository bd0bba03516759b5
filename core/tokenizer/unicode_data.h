#pragma once
// What the Unicode tables of Hearth's libraries say about code points. Two libraries classify
// characters: PCRE2 (the pre-tokenizer regexes' fast path) and ICU (NFC, and the pre-tokenizer's
// fallback for characters newer than PCRE2's tables). Each was built with some version of the
// Unicode Character Database (Debian 12: PCRE2 10.42 has 14.0, ICU 72 has 15.0); a character
// added after that version is unassigned (\p{Cn}) to that library.
#include <compare>
#include <string>
#include <string_view>

namespace hearth::unicode {

struct Version {
  int major = 0, minor = 0, micro = 0;
  auto operator<=>(const Version&) const = default;
  std::string to_string() const;  // "15.0.0"
};

// The Unicode version of PCRE2's tables.
Version pcre2_version();

// Whether Hearth was built with ICU (icu-uc and icu-i18n).
bool icu_available();
// The Unicode version of ICU's tables; {0, 0, 0} without ICU.
Version icu_version();
// The version in which `cp` was assigned, by ICU's tables; {0, 0, 0} when ICU does not know it
// (unassigned there, or no ICU).
Version age(char32_t cp);
// ICU's general category of `cp` as its short alias ("Lu", "Nd", "Cn", ...); "" without ICU.
std::string_view general_category(char32_t cp);

// Whether `text` contains a well-formed character that ICU knows and PCRE2's tables predate
// (age(cp) > pcre2_version()). Ill-formed bytes are skipped. False without ICU.
bool has_code_point_newer_than(std::string_view text, Version version);

}  // namespace hearth::unicode
