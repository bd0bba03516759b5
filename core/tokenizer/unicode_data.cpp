#include "core/tokenizer/unicode_data.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <charconv>

#include "core/tokenizer/utf8.h"

#ifdef HEARTH_HAVE_ICU
#include <unicode/uchar.h>
#endif

namespace hearth::unicode {
namespace {

// "14.0.0" -> {14, 0, 0}; missing parts stay 0.
Version parse_version(std::string_view text) {
  Version v;
  int* parts[] = {&v.major, &v.minor, &v.micro};
  for (int* part : parts) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *part);
    if (error != std::errc()) break;
    text.remove_prefix(static_cast<size_t>(end - text.data()));
    if (text.empty() || text.front() != '.') break;
    text.remove_prefix(1);
  }
  return v;
}

}  // namespace

std::string Version::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
}

Version pcre2_version() {
  char text[64] = {};  // PCRE2_CONFIG_UNICODE_VERSION writes a short string such as "14.0.0"
  if (pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, text) <= 0) return {};
  return parse_version(text);
}

#ifdef HEARTH_HAVE_ICU

bool icu_available() { return true; }

Version icu_version() {
  UVersionInfo v;
  u_getUnicodeVersion(v);
  return {v[0], v[1], v[2]};
}

Version age(char32_t cp) {
  if (u_charType(static_cast<UChar32>(cp)) == U_UNASSIGNED) return {};
  UVersionInfo v;
  u_charAge(static_cast<UChar32>(cp), v);
  return {v[0], v[1], v[2]};
}

std::string_view general_category(char32_t cp) {
  const char* name = u_getPropertyValueName(UCHAR_GENERAL_CATEGORY, u_charType(static_cast<UChar32>(cp)), U_SHORT_PROPERTY_NAME);
  return name != nullptr ? name : "";
}

bool has_code_point_newer_than(std::string_view text, Version version) {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {  // ASCII is in every version
      ++pos;
      continue;
    }
    const utf8::Scan scan = utf8::scan_sequence(text, pos);
    if (scan.kind == utf8::ScanKind::kComplete && age(utf8::decode_sequence(text, pos, scan.length)) > version) return true;
    pos += scan.length;
  }
  return false;
}

#else

bool icu_available() { return false; }
Version icu_version() { return {}; }
Version age(char32_t) { return {}; }
std::string_view general_category(char32_t) { return ""; }
bool has_code_point_newer_than(std::string_view, Version) { return false; }

#endif

}  // namespace hearth::unicode
