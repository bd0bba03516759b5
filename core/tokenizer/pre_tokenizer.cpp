#include "core/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/common/error.h"
#include "core/tokenizer/icu_regex.h"
#include "core/tokenizer/unicode_data.h"

namespace hearth {
namespace {

// GPT-2 (openai/gpt-2 encoder.py; HF ByteLevel with use_regex).
constexpr const char* kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Llama 3 (tokenizer.json: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|..."). The case-insensitive group is
// spelled out with ASCII classes so Unicode case folding (U+017F long s, U+212A Kelvin) stays out.
constexpr const char* kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Qwen2: Llama 3's with single digits.
constexpr const char* kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// SmolLM, StarCoder: Digits(individual_digits) then GPT-2's expression.
constexpr const char* kSingleDigit = R"re(\p{N})re";

// DeepSeek LLM: a Sequence of Splits (newlines, Latin/Greek/Cyrillic/... letter runs, ASCII and
// full-width punctuation runs, trailing whitespace, CJK runs, digit runs).
// Written with \x{...} escapes: the original character classes contain code points (U+1F7D,
// U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A) that Unicode normalization would silently change.
constexpr const char* kDeepseekLlm[] = {
    R"re([\r\n])re",
    R"re(\s?[\x{41}-\x{5A}\x{61}-\x{7A}\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA})re"
    R"re(\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377})re"
    R"re(\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5})re"
    R"re(\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})re"
    R"re(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77})re"
    R"re(\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D})re"
    R"re(\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4})re"
    R"re(\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3})re"
    R"re(\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})re"
    R"re(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})re"
    R"re(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})re"
    R"re(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})re"
    R"re(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})re"
    R"re(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})re"
    R"re(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})re"
    R"re(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re",
    R"re(\s?[\x{21}-\x{2F}\x{3A}-\x{7E}\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re",
    R"re(\s+$)re",
    R"re([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re",
    R"re(\p{N}+)re",
};

// DeepSeek V3 / R1: digit runs of up to three, CJK (and kana) runs, then a Llama-3-like expression
// with punctuation and symbols (\p{P}, \p{S}) kept apart from letters and marks.
constexpr const char* kDeepseekV3[] = {
    R"re(\p{N}{1,3})re",
    R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+)re"
    R"re(| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
};

// o200k (gpt-oss, GPT-4o): words split at case changes, contractions attached to the word before.
// The case-insensitive contraction groups are spelled with ASCII classes, as for Llama 3.
constexpr const char* kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)re"
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)re"
    R"re(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)re"
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)re"
    R"re(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// The expressions say \s and \S as Hugging Face's files do. Both references (the Rust library's
// Oniguruma and @huggingface/tokenizers, which rewrites \s to \p{White_Space}) mean Unicode
// White_Space. ICU's \s is that too, but PCRE2's also matches U+180E MONGOLIAN VOWEL SEPARATOR
// (not White_Space since Unicode 6.3), so both engines get the property itself.
std::string with_white_space_property(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    const char escaped = pattern[++i];  // an escape is two characters: "\\" stays "\\"
    if (escaped == 's') {
      out += "\\p{White_Space}";
    } else if (escaped == 'S') {
      out += "\\P{White_Space}";
    } else {
      out.push_back('\\');
      out.push_back(escaped);
    }
  }
  return out;
}

using Matches = std::vector<std::pair<size_t, size_t>>;

// Cuts `piece` at its matches, given in order and not overlapping: appends every match and the
// text between matches to `out`.
class Cutter {
 public:
  Cutter(std::string_view piece, std::vector<std::string_view>& out) : piece_(piece), out_(out) {}
  void match(size_t begin, size_t end) {
    if (begin > gap_start_) out_.push_back(piece_.substr(gap_start_, begin - gap_start_));
    out_.push_back(piece_.substr(begin, end - begin));
    gap_start_ = end;
  }
  void finish() {
    if (gap_start_ < piece_.size()) out_.push_back(piece_.substr(gap_start_));
  }

 private:
  std::string_view piece_;
  std::vector<std::string_view>& out_;
  size_t gap_start_ = 0;
};

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  std::unique_ptr<IcuRegex> icu;  // the same expression for ICU; null without ICU
  ~Regex() { pcre2_code_free(code); }

  // Cuts `piece` at PCRE2's non-empty matches (`match` is scratch space for this expression).
  void cut_with_pcre2(std::string_view piece, pcre2_match_data* match, Cutter& cutter) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    size_t offset = 0;
    while (offset < piece.size()) {
      const int rc = pcre2_match(code, subject, piece.size(), offset, 0, match, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof(message));
        throw Error(std::string("tokenizer: pre-tokenizer regex failed: ") + reinterpret_cast<const char*>(message));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
      const size_t begin = ovector[0], end = ovector[1];
      if (end <= begin) {  // an empty match (none of our patterns has one): step past it
        offset = begin + 1;
        continue;
      }
      cutter.match(begin, end);
      offset = end;
    }
  }
};

std::vector<std::string> PreTokenizer::patterns_for(std::string_view pre) {
  if (pre == "default" || pre == "gpt-2" || pre == "gpt2" || pre == "mpt" || pre == "olmo") return {kGpt2};
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "dbrx" || pre == "smaug-bpe") {
    return {kLlama3};
  }
  if (pre == "qwen2" || pre == "stablelm2") return {kQwen2};
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell") {
    return {kSingleDigit, kGpt2};
  }
  if (pre == "deepseek-llm") return {std::begin(kDeepseekLlm), std::end(kDeepseekLlm)};
  if (pre == "deepseek-v3") return {std::begin(kDeepseekV3), std::end(kDeepseekV3)};
  if (pre == "gpt-4o") return {kGpt4o};
  throw FormatError("tokenizer: unknown pre-tokenizer tokenizer.ggml.pre = \"" + std::string(pre) + "\"");
}

bool PreTokenizer::icu_available() { return unicode::icu_available(); }

PreTokenizer::PreTokenizer(std::string_view pre) {
  // ICU takes over from PCRE2 only when its tables are the newer ones.
  if (unicode::icu_available() && unicode::icu_version() > unicode::pcre2_version()) {
    pcre2_unicode_ = unicode::pcre2_version();
  }
  for (const std::string& hf_pattern : patterns_for(pre)) {
    const std::string pattern = with_white_space_property(hf_pattern);
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto regex = std::make_unique<Regex>();
    regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &error_offset, nullptr);
    if (regex->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      throw Error("tokenizer: pre-tokenizer regex for \"" + std::string(pre) + "\" does not compile at " +
                  std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);  // best effort: the interpreter also works
    if (unicode::icu_available()) regex->icu = std::make_unique<IcuRegex>(pattern);
    regexes_.push_back(std::move(regex));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const { return split(text, Engine::kAuto); }

std::vector<std::string_view> PreTokenizer::split(std::string_view text, Engine engine) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  if (engine == Engine::kIcu && !icu_available()) throw Error("tokenizer: Hearth was built without ICU");
  // Most text has no character newer than PCRE2's tables: then no piece of it has one either.
  const bool newer_text = engine == Engine::kAuto && pcre2_unicode_ && unicode::has_code_point_newer_than(text, *pcre2_unicode_);
  pieces.push_back(text);
  std::vector<std::string_view> next;
  Matches matches;
  for (const auto& regex : regexes_) {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(regex->code, nullptr), &pcre2_match_data_free);
    if (!match) throw Error("tokenizer: out of memory for a regex match");
    next.clear();
    for (std::string_view piece : pieces) {
      Cutter cutter(piece, next);
      const bool use_icu = engine == Engine::kIcu || (newer_text && unicode::has_code_point_newer_than(piece, *pcre2_unicode_));
      if (use_icu) {
        matches.clear();
        regex->icu->find_all(piece, matches);
        for (const auto& [begin, end] : matches) cutter.match(begin, end);
      } else {
        regex->cut_with_pcre2(piece, match.get(), cutter);
      }
      cutter.finish();
    }
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace hearth
