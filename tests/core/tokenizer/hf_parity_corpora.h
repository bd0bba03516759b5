#pragma once
// Inputs for the Hugging Face parity tests: War and Peace in 2 KB chunks, a multilingual set,
// source code with tabs and mixed line endings, runs of whitespace and digits, random valid UTF-8
// over every assigned code point, and every character that PCRE2's Unicode tables predate in
// context (seeded by the caller). Every input is well-formed UTF-8, since the references take
// JavaScript / Python strings.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
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
      // Case-insensitive contractions fold ASCII only: not U+017F LONG S, U+212A KELVIN SIGN.
      "it'\xC5\xBF the '\xE2\x84\xAA 'S 'T 'RE 'Ve 'm 'lL 'D 'Ll '\xC5\xBF\xC5\xBF",
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
      // Where regex engines disagree on \s: U+180E (not White_Space since Unicode 6.3), U+0085
      // and U+000B (White_Space), U+FEFF (not White_Space, though JavaScript's \s has it).
      "a\xE1\xA0\x8E b \xE1\xA0\x8E\xE1\xA0\x8E c", "x\xC2\x85y  \xC2\x85\xC2\x85z \xC2\x85", "\xEF\xBB\xBFhi \xEF\xBB\xBF \xEF\xBB\xBF",
      "a\x0B\x0B" "b \x0B c\x0B", "\xE2\x80\xA8x\xE2\x80\xA9 \xE2\x80\xAF" "1\xE2\x81\x9F\xE3\x80\x80 ",
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

// A set of code points to draw from: runs [first, last], each drawn with equal weight by
// pick_spread() (so small scripts are seen as often as the 100k CJK ideographs), or every code
// point with equal weight by pick_uniform().
struct CodePointPool {
  std::vector<std::pair<uint32_t, uint32_t>> runs;
  std::vector<uint64_t> cumulative;  // [runs.size()] code points in runs[0..i]

  void add(uint32_t cp) {
    if (!runs.empty() && runs.back().second + 1 == cp) {
      ++runs.back().second;
      ++cumulative.back();
    } else {
      runs.emplace_back(cp, cp);
      cumulative.push_back((cumulative.empty() ? 0 : cumulative.back()) + 1);
    }
  }
  bool empty() const { return runs.empty(); }
  uint64_t size() const { return cumulative.empty() ? 0 : cumulative.back(); }
  bool contains(uint32_t cp) const {
    auto it = std::upper_bound(runs.begin(), runs.end(), std::make_pair(cp, UINT32_MAX));
    return it != runs.begin() && cp <= std::prev(it)->second;
  }
  uint32_t pick_spread(std::mt19937_64& rng) const {
    const auto& [lo, hi] = runs[std::uniform_int_distribution<size_t>(0, runs.size() - 1)(rng)];
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
  }
  uint32_t pick_uniform(std::mt19937_64& rng) const {
    const uint64_t k = std::uniform_int_distribution<uint64_t>(0, size() - 1)(rng);
    const size_t run = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), k) - cumulative.begin());
    const uint64_t before = run == 0 ? 0 : cumulative[run - 1];
    return runs[run].first + static_cast<uint32_t>(k - before);
  }
  std::vector<uint32_t> all() const {
    std::vector<uint32_t> out;
    for (const auto& [lo, hi] : runs) {
      for (uint32_t cp = lo; cp <= hi; ++cp) out.push_back(cp);
    }
    return out;
  }
};

// Code points sorted by what the reference runtime (node's RegExp, tests/npm/unicode_categories.mjs)
// and Hearth's Unicode tables (ICU through core/tokenizer/unicode_data.h) say about them.
struct CodePointClasses {
  std::string reference_version;  // node's Unicode version
  // Assigned by the reference (neither Cn nor Cs; so no noncharacter) with the category that
  // Hearth's tables give it: the random inputs draw from these.
  CodePointPool assigned;
  // Those of `assigned` that PCRE2's tables predate (ICU's age newer than PCRE2's Unicode).
  CodePointPool newer_than_pcre2;
  // Assigned by the reference with a category that Hearth's tables do not give it: characters
  // of Unicode versions newer than Hearth's ICU (and category changes since, such as U+0295).
  CodePointPool beyond_hearth;
};

// Reads the file written by unicode_categories.mjs; `hearth_agrees(cp, reference_category)` and
// `newer_than_pcre2(cp)` say what Hearth's tables say.
template <class HearthAgrees, class NewerThanPcre2>
CodePointClasses classify_code_points(const std::vector<std::string>& lines, HearthAgrees hearth_agrees,
                                      NewerThanPcre2 newer_than_pcre2) {
  CodePointClasses classes;
  uint32_t expected = 0;
  for (const std::string& line : lines) {
    if (line.rfind("unicode ", 0) == 0) {
      classes.reference_version = line.substr(8);
      continue;
    }
    char category[8] = {};
    unsigned first = 0, last = 0;
    if (std::sscanf(line.c_str(), "%x %x %7s", &first, &last, category) != 3 || first != expected || last < first ||
        last > 0x10FFFF) {
      throw std::runtime_error("bad line in the reference's Unicode categories: " + line);
    }
    expected = last + 1;
    const std::string reference(category);
    if (reference == "Cn" || reference == "Cs") continue;
    for (uint32_t cp = first; cp <= last; ++cp) {
      if (!hearth_agrees(cp, std::string_view(reference))) {
        classes.beyond_hearth.add(cp);
        continue;
      }
      classes.assigned.add(cp);
      if (newer_than_pcre2(cp)) classes.newer_than_pcre2.add(cp);
    }
  }
  if (expected != 0x110000) throw std::runtime_error("the reference's Unicode categories stop before U+10FFFF");
  return classes;
}

// Each code point of `pool` (all of them, in order, or `count` drawn at random when count > 0)
// between pieces of words, digits, punctuation, spaces and newlines, 16 to an input: the
// contexts in which a pre-tokenizer's classes of letters, digits, marks, punctuation, symbols
// and whitespace decide where a word ends.
inline std::vector<std::string> code_points_in_context(std::mt19937_64& rng, const CodePointPool& pool, size_t count = 0) {
  static constexpr const char* kAround[] = {"word", " ", "_p", ".", "!", "42", "7", "\xE4\xB8\xAD", "\n", "'s",
                                            "A",    "a", "  ", "\xCC\x81", "\xD9\xA1", ""};
  std::uniform_int_distribution<size_t> around(0, std::size(kAround) - 1);
  std::bernoulli_distribution twice(0.2);
  std::vector<uint32_t> code_points;
  if (count == 0) {
    code_points = pool.all();
  } else if (!pool.empty()) {
    for (size_t i = 0; i < count; ++i) code_points.push_back(pool.pick_spread(rng));
  }
  std::vector<std::string> inputs;
  for (size_t i = 0; i < code_points.size(); i += 16) {
    std::string s;
    for (size_t j = i; j < std::min(code_points.size(), i + 16); ++j) {
      s += kAround[around(rng)];
      utf8::append_codepoint(s, code_points[j]);
      if (twice(rng)) utf8::append_codepoint(s, code_points[j]);
      s += kAround[around(rng)];
    }
    inputs.push_back(s);
  }
  return inputs;
}

// A few characters of Unicode 15.0 in plain sentences (what a user would type): hearts and a
// face (emoji 15), a CJK Extension H ideograph, Kawi letters and a digit, and a Devanagari
// Extension-A sign.
inline std::vector<std::string> unicode15_sentences() {
  return {
      "I love you \xF0\x9F\xA9\xB5\xF0\x9F\xA9\xB6\xF0\x9F\xA9\xB7!",                   // U+1FA75..U+1FA77
      "so shocked\xF0\x9F\xAB\xA8 'really'\xF0\x9F\xAB\xA8\xF0\x9F\xAB\xA8",             // U+1FAE8
      "\xE4\xB8\xAD\xF0\xB1\x8D\x90\xF0\xB1\x8D\x91\xE6\x96\x87 x\xF0\xB1\x8D\x90y",     // U+31350, U+31351
      "Kawi: \xF0\x91\xBC\x84\xF0\x91\xBC\x92\xF0\x91\xBD\x91\xF0\x91\xBD\x92 done",     // U+11F04, U+11F12, U+11F51, U+11F52
      "a\xF0\x91\xBC\x80" "b \xF0\x9F\xA9\xB7" "123\xF0\x91\xBD\x93" "4",              // U+11F00, U+1FA77, U+11F53
  };
}

// Random inputs of 1 to 120 code points: 70% from common scripts, 30% from all of `assigned`
// (half uniform over code points, half spread over runs of one category). Every code point is
// one that `assigned` has: the reference runtime assigns it, and no surrogate or noncharacter.
inline std::vector<std::string> random_utf8_inputs(std::mt19937_64& rng, size_t count, const CodePointPool& assigned) {
  static constexpr std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x20, 0x7E}, {0x20, 0x7E}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x52F}, {0x590, 0x6FF}, {0x900, 0x97F},
      {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
      {0xFF00, 0xFFEF}, {0x1F300, 0x1FAFF}, {0x9, 0xD}};
  std::uniform_int_distribution<size_t> range(0, std::size(kRanges) - 1), length(1, 120);
  std::bernoulli_distribution anywhere(0.3), uniform(0.5);
  std::vector<std::string> inputs;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    for (size_t n = length(rng); n > 0; --n) {
      uint32_t cp;
      if (anywhere(rng)) {
        cp = uniform(rng) ? assigned.pick_uniform(rng) : assigned.pick_spread(rng);
      } else {
        const auto [lo, hi] = kRanges[range(rng)];
        do cp = std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
        while (!assigned.contains(cp));
      }
      utf8::append_codepoint(s, cp);
    }
    inputs.push_back(s);
  }
  return inputs;
}

}  // namespace hearth::test
