#pragma once
// Inputs for the Hugging Face parity tests: War and Peace in 2 KB chunks, a multilingual set,
// source code with tabs and mixed line endings, runs of whitespace and digits, and random valid
// UTF-8 (seeded by the caller). Every input is well-formed UTF-8, since the references take
// JavaScript / Python strings.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/tokenizer/utf8.h"

namespace hearth::test {

// Chunks of about `size` bytes, cut before a UTF-8 lead byte; every `stride`-th chunk is kept.
inline std::vector<std::string> utf8_chunks(const std::string& text, size_t size, size_t stride = 1) {
  std::vector<std::string> chunks;
  size_t index = 0;
  for (size_t pos = 0; pos < text.size(); ++index) {
    size_t end = std::min(text.size(), pos + size);
    while (end < text.size() && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) ++end;
    if (index % stride == 0) chunks.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return chunks;
}

inline std::vector<std::string> multilingual_inputs() {
  return {
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\xE3\x80\x82",  // 你好，世界！今天天气很好。
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A\xE3\x81\xA8\xE3\x81\xB2\xE3\x82\x89\xE3\x81\x8C\xE3\x81\xAA",
      "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xED\x85\x8D\xEC\x8A\xA4\xED\x8A\xB8\xEC\x9E\x85\xEB\x8B\x88\xEB\x8B\xA4.",
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xD8\xA8\xD8\xA7\xD9\x84\xD8\xB9\xD8\xA7\xD9\x84\xD9\x85! \xD9\x87\xD8\xB0\xD8\xA7 \xD9\x86\xD8\xB5 \xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD9\x91 \xD9\x85\xD9\x8F\xD8\xB4\xD9\x8E\xD9\x83\xD9\x91\xD9\x8E\xD9\x84.",
      "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87 \xE0\xA4\xA6\xE0\xA5\x81\xE0\xA4\xA8\xE0\xA4\xBF\xE0\xA4\xAF\xE0\xA4\xBE! \xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80 \xE0\xA4\xAD\xE0\xA4\xBE\xE0\xA4\xB7\xE0\xA4\xBE \xE0\xA5\xA7\xE0\xA5\xA8\xE0\xA5\xA9",
      "\xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5\xE0\xB8\x8A\xE0\xB8\xB2\xE0\xB8\xA7\xE0\xB9\x82\xE0\xB8\xA5\xE0\xB8\x81 \xE0\xB8\xA0\xE0\xB8\xB2\xE0\xB8\xA9\xE0\xB8\xB2\xE0\xB9\x84\xE0\xB8\x97\xE0\xB8\xA2\xE0\xB9\x84\xE0\xB8\xA1\xE0\xB9\x88\xE0\xB8\xA1\xE0\xB8\xB5\xE0\xB8\x8A\xE0\xB9\x88\xE0\xB8\xAD\xE0\xB8\x87\xE0\xB8\xA7\xE0\xB9\x88\xE0\xB8\xB2\xE0\xB8\x87",
      // Emoji: ZWJ families, skin tones, flags, keycaps, variation selectors.
      "family \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6 wave \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD flag \xF0\x9F\x87\xAF\xF0\x9F\x87\xB5 keycap 1\xEF\xB8\x8F\xE2\x83\xA3 heart \xE2\x9D\xA4\xEF\xB8\x8F",
      "\xF0\x9F\x8F\xB3\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F\x8C\x88\xF0\x9F\xA7\x91\xE2\x80\x8D\xF0\x9F\x92\xBB\xF0\x9F\x98\x80\xF0\x9F\x98\x83\xF0\x9F\x98\x84!!",
      // Combining marks: decomposed é, stacked diacritics, Vietnamese, Zalgo-ish.
      "cafe\xCC\x81 re\xCC\x81sume\xCC\x81 na\xC3\xAFve \xC3\xA9\xC3\xA8 e\xCC\x81" "e\xCC\x80",
      "Vi\xE1\xBB\x87t Nam ti\xE1\xBA\xBFng Vi\xE1\xBB\x87t a\xCC\x82\xCC\x81 o\xCC\x9B\xCC\x80",
      "Z\xCD\x91\xCD\x97" "a\xCC\x80\xCD\x9Bl\xCD\x86g\xCC\x8Co\xCD\x84 text",
      "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB\xE1\x84\x80\xE1\x85\xB3\xE1\x86\xAF",  // Hangul jamo (NFC composes)
      "\xC3\x85ngstr\xC3\xB6m \xE2\x84\xAB \xE2\x84\xA6 \xEF\xAC\x81 \xE2\x91\xA0 \xC2\xBD x\xC2\xB2",
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80! \xCE\x93\xCE\xB5\xCE\xB9\xCE\xB1 \xCF\x83\xCE\xBF\xCF\x85 \xCE\xBA\xCF\x8C\xCF\x83\xCE\xBC\xCE\xB5",
      "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xD7\xA2\xD7\x95\xD7\x9C\xD7\x9D \xE2\x80\x8F\xE2\x80\x8E mixed \xD9\xA1\xD9\xA2\xD9\xA3",
      "I'm you're he'll we've she'd it's DON'T I'M O'Neil's \xE2\x80\x99s",
  };
}

inline std::vector<std::string> code_inputs() {
  return {
      "#include <stdio.h>\r\n\r\nint main(void) {\r\n\tprintf(\"hello\\n\");\r\n\treturn 0;\r\n}\r\n",
      "def f(x):\n\tif x > 0:\n\t\treturn x * 2  # double\n    else:\r\n        return -x\r\n\n\n",
      "for (int i = 0; i < n; ++i) {\n\t\tsum += a[i] * b[i];\t// dot\r}\r\n",
      "const x = {a: 1, 'b': [2, 3], \"c\": null};\n\t\t\n  \n\r\n\r\r\n",
      "SELECT id, name FROM users WHERE age >= 21 AND name LIKE '%son';\r\n",
      "    indented\n        more\n\t\ttabs\n  \t  mixed\t \n",
      "<html>\n  <body class=\"main\">\n    <p>Text &amp; more</p>\n  </body>\n</html>\n",
      "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![0x1F, 0xFF];\n    Ok(())\n}\n",
  };
}

inline std::vector<std::string> whitespace_digit_inputs(std::mt19937_64& rng, size_t count) {
  std::vector<std::string> inputs = {
      " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t\t\t", "                                ",
      "0", "12", "123", "1234", "12345", "1234567890123456789012345678901234567890",
      "3.14159 2,718 1e10 -42 +7 0x1F 1_000_000", "a1b22c333d4444", "  12  345\t\t6789\n\n0",
      "\xD9\xA1\xD9\xA2\xD9\xA3 \xE0\xA5\xA7\xE0\xA5\xA8\xE0\xA5\xA9 \xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93 \xE2\x85\xA0\xE2\x85\xA1",
  };
  static constexpr const char* kPieces[] = {" ", "  ", "\t", "\n", "\r\n", "\r", "0", "7", "42", "999", "12345",
                                            "a", "x", ".", ",", "\xC2\xA0", "\xE3\x80\x80"};
  std::uniform_int_distribution<size_t> piece(0, std::size(kPieces) - 1), length(1, 40);
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    for (size_t n = length(rng); n > 0; --n) s += kPieces[piece(rng)];
    inputs.push_back(s);
  }
  return inputs;
}

// Code points unassigned in Unicode 14 (Debian 12's PCRE2 10.42, which Hearth's pre-tokenizer
// regexes use for \p{L}, \p{P}, ...) but assigned by Unicode 17 (node 20's ICU 78, which the
// reference uses): the two disagree on their categories, so a pre-tokenizer may cut text at them
// differently (U+1FA76 GREY HEART is a symbol to one and unassigned to the other). Computed by
// comparing node's /\p{Cn}/u with Python 3.11's unicodedata (Unicode 14) over all code points.
inline constexpr std::pair<uint32_t, uint32_t> kAssignedAfterUnicode14[] = {
    {0x88F, 0x88F}, {0x897, 0x897}, {0xC5C, 0xC5C}, {0xCDC, 0xCDC}, {0xCF3, 0xCF3}, {0xECE, 0xECE},
    {0x1ACF, 0x1ADD}, {0x1AE0, 0x1AEB}, {0x1B4E, 0x1B4F}, {0x1B7F, 0x1B7F}, {0x1C89, 0x1C8A}, {0x20C1, 0x20C1},
    {0x2427, 0x2429}, {0x2B96, 0x2B96}, {0x2FFC, 0x2FFF}, {0x31E4, 0x31E5}, {0x31EF, 0x31EF}, {0xA7CB, 0xA7CF},
    {0xA7D2, 0xA7D2}, {0xA7D4, 0xA7D4}, {0xA7DA, 0xA7DC}, {0xA7F1, 0xA7F1}, {0xFBC3, 0xFBD2}, {0xFD90, 0xFD91},
    {0xFDC8, 0xFDCE}, {0x105C0, 0x105F3}, {0x10940, 0x10959}, {0x10D40, 0x10D65}, {0x10D69, 0x10D85},
    {0x10D8E, 0x10D8F}, {0x10EC2, 0x10EC7}, {0x10ED0, 0x10ED8}, {0x10EFA, 0x10EFF}, {0x1123F, 0x11241},
    {0x11380, 0x11389}, {0x1138B, 0x1138B}, {0x1138E, 0x1138E}, {0x11390, 0x113B5}, {0x113B7, 0x113C0},
    {0x113C2, 0x113C2}, {0x113C5, 0x113C5}, {0x113C7, 0x113CA}, {0x113CC, 0x113D5}, {0x113D7, 0x113D8},
    {0x113E1, 0x113E2}, {0x116D0, 0x116E3}, {0x11B00, 0x11B09}, {0x11B60, 0x11B67}, {0x11BC0, 0x11BE1},
    {0x11BF0, 0x11BF9}, {0x11DB0, 0x11DDB}, {0x11DE0, 0x11DE9}, {0x11F00, 0x11F10}, {0x11F12, 0x11F3A},
    {0x11F3E, 0x11F5A}, {0x1342F, 0x1342F}, {0x13439, 0x13455}, {0x13460, 0x143FA}, {0x16100, 0x16139},
    {0x16D40, 0x16D79}, {0x16EA0, 0x16EB8}, {0x16EBB, 0x16ED3}, {0x16FF2, 0x16FF6}, {0x187F8, 0x187FF},
    {0x18CFF, 0x18CFF}, {0x18D09, 0x18D1E}, {0x18D80, 0x18DF2}, {0x1B132, 0x1B132}, {0x1B155, 0x1B155},
    {0x1CC00, 0x1CCFC}, {0x1CD00, 0x1CEB3}, {0x1CEBA, 0x1CED0}, {0x1CEE0, 0x1CEF0}, {0x1D2C0, 0x1D2D3},
    {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F}, {0x1E4D0, 0x1E4F9}, {0x1E5D0, 0x1E5FA},
    {0x1E5FF, 0x1E5FF}, {0x1E6C0, 0x1E6DE}, {0x1E6E0, 0x1E6F5}, {0x1E6FE, 0x1E6FF}, {0x1F6D8, 0x1F6D8},
    {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F77F}, {0x1F7D9, 0x1F7D9}, {0x1F8B2, 0x1F8BB}, {0x1F8C0, 0x1F8C1},
    {0x1F8D0, 0x1F8D8}, {0x1FA54, 0x1FA57}, {0x1FA75, 0x1FA77}, {0x1FA87, 0x1FA8A}, {0x1FA8E, 0x1FA8F},
    {0x1FAAD, 0x1FAAF}, {0x1FABB, 0x1FABF}, {0x1FAC6, 0x1FAC6}, {0x1FAC8, 0x1FAC8}, {0x1FACD, 0x1FACF},
    {0x1FADA, 0x1FADC}, {0x1FADF, 0x1FADF}, {0x1FAE8, 0x1FAEA}, {0x1FAEF, 0x1FAEF}, {0x1FAF7, 0x1FAF8},
    {0x1FBCB, 0x1FBEF}, {0x1FBFA, 0x1FBFA}, {0x2B739, 0x2B73F}, {0x2CEA2, 0x2CEAD}, {0x2EBF0, 0x2EE5D},
    {0x31350, 0x33479},
};

inline bool assigned_after_unicode14(uint32_t cp) {
  for (const auto& [lo, hi] : kAssignedAfterUnicode14) {
    if (cp >= lo && cp <= hi) return true;
  }
  return false;
}

// Text with characters from kAssignedAfterUnicode14 between words and punctuation: the cases
// where Hearth and a reference on a newer Unicode may differ (reported, not required to match).
inline std::vector<std::string> newer_unicode_inputs(std::mt19937_64& rng, size_t count) {
  static constexpr const char* kAround[] = {"word", " ", "_p", ".", "!", "42", "\xE4\xB8\xAD", "\n", "'s"};
  std::uniform_int_distribution<size_t> range(0, std::size(kAssignedAfterUnicode14) - 1), around(0, std::size(kAround) - 1);
  std::vector<std::string> inputs;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    for (int n = 0; n < 6; ++n) {
      const auto [lo, hi] = kAssignedAfterUnicode14[range(rng)];
      s += kAround[around(rng)];
      utf8::append_codepoint(s, std::uniform_int_distribution<uint32_t>(lo, hi)(rng));
      s += kAround[around(rng)];
    }
    inputs.push_back(s);
  }
  return inputs;
}

// Random code points, half from common scripts, half from anywhere in U+0000..U+10FFFF (no
// surrogates, nothing from kAssignedAfterUnicode14); NUL excluded (a C string boundary in some
// tools).
inline std::vector<std::string> random_utf8_inputs(std::mt19937_64& rng, size_t count) {
  static constexpr std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x20, 0x7E}, {0x20, 0x7E}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x52F}, {0x590, 0x6FF}, {0x900, 0x97F},
      {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
      {0xFF00, 0xFFEF}, {0x1F300, 0x1FAFF}, {0x9, 0xD}};
  std::uniform_int_distribution<size_t> range(0, std::size(kRanges) - 1), length(1, 120);
  std::uniform_int_distribution<uint32_t> any(1, 0x10FFFF);
  std::bernoulli_distribution anywhere(0.3);
  std::vector<std::string> inputs;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    for (size_t n = length(rng); n > 0; --n) {
      uint32_t cp;
      if (anywhere(rng)) {
        do cp = any(rng);
        while ((cp >= 0xD800 && cp <= 0xDFFF) || assigned_after_unicode14(cp));
      } else {
        const auto [lo, hi] = kRanges[range(rng)];
        do cp = std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
        while (assigned_after_unicode14(cp));
      }
      utf8::append_codepoint(s, cp);
    }
    inputs.push_back(s);
  }
  return inputs;
}

}  // namespace hearth::test
