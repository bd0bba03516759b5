// The pre-tokenizer's two regex engines (PCRE2 JIT, and ICU for characters newer than PCRE2's
// Unicode tables; see core/tokenizer/pre_tokenizer.h) must cut text alike wherever both know
// every character: each family's expressions are run through both on the parity corpora (War and
// Peace, multilingual text, code, whitespace and digits, random text with ill-formed bytes) and
// on every code point that PCRE2's tables have, in context. Where PCRE2's tables are too old, the
// automatic choice must be ICU's cut, and PCRE2's must differ for new letters (so the check can
// fail). The Hugging Face parity test (test_tokenizer_hf_parity) checks the result against the
// reference; this one checks that the fast path and the fallback agree.
#include <QTest>

#include <filesystem>
#include <random>

#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/unicode_data.h"
#include "core/tokenizer/utf8.h"
#include "tests/core/tokenizer/hf_parity_corpora.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;

namespace {

// Every pre-tokenizer Hearth implements (one name per distinct list of expressions).
const char* const kPres[] = {"gpt2", "llama-bpe", "qwen2", "smollm", "deepseek-llm", "deepseek-v3", "gpt-4o"};

std::string describe(const std::vector<std::string_view>& pieces) {
  std::string out;
  for (std::string_view piece : pieces) out += (out.empty() ? "" : " ") + test::to_hex(piece);
  return out;
}

// Compares two engines on every input; logs the first differences; returns how many differ.
size_t count_differences(const PreTokenizer& splitter, const std::string& pre, const std::vector<std::string>& inputs,
                         PreTokenizer::Engine a, PreTokenizer::Engine b, const char* what) {
  size_t differences = 0;
  for (const std::string& input : inputs) {
    const auto pieces_a = splitter.split(input, a), pieces_b = splitter.split(input, b);
    if (pieces_a != pieces_b && ++differences <= 3) {
      qWarning("%s %s: input %s\n  first  %s\n  second %s", pre.c_str(), what, test::to_hex(input.substr(0, 200)).c_str(),
               describe(pieces_a).substr(0, 400).c_str(), describe(pieces_b).substr(0, 400).c_str());
    }
  }
  return differences;
}

// Every character that PCRE2's tables know as ICU's do (age not newer than PCRE2's Unicode),
// each in a few contexts that decide the classes of the expressions (letter case, digits, marks,
// punctuation, whitespace), in chunks. Of the unassigned and private-use code points, which all
// behave alike, every 61st.
std::vector<std::string> every_old_code_point_in_context() {
  const unicode::Version pcre2 = unicode::pcre2_version();
  std::vector<std::string> chunks;
  std::string chunk;
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const unicode::Version age = unicode::age(cp);
    if (age > pcre2) continue;
    if ((age == unicode::Version{} || unicode::general_category(cp) == "Co") && cp % 61 != 0) continue;
    std::string c;
    utf8::append_codepoint(c, cp);
    chunk += c + "a" + c + "A" + c + "1" + c + "12" + c + "!" + c + " " + c + c + "\xCC\x81" + c + "\n";
    if (chunk.size() > 4096) chunks.push_back(std::move(chunk)), chunk.clear();
  }
  if (!chunk.empty()) chunks.push_back(chunk);
  return chunks;
}

// `inputs` with ill-formed bytes (a lone continuation byte, a cut-short sequence, 0xFF, a
// surrogate's encoding) dropped in at random places, and some inputs ending in whitespace before
// one (DeepSeek's \s+$ must not match there).
std::vector<std::string> with_ill_formed_bytes(std::mt19937_64& rng, const std::vector<std::string>& inputs) {
  static constexpr const char* kBad[] = {"\x80", "\xE4\xB8", "\xFF", "\xED\xA0\x80", "\xC0\xAF", "\xF0\x9F\x98"};
  std::uniform_int_distribution<size_t> bad(0, std::size(kBad) - 1);
  std::vector<std::string> out = {"ab  \xFF", "ab  ", "ab \n\xFF", "\xFF  ", "x\xFF\n\n \xFF y", " \xE4\xB8 1234\x80"};
  for (std::string input : inputs) {
    for (int n = 0; n < 3 && !input.empty(); ++n) {
      // At a code point boundary, so that no character is cut into a new one.
      size_t at = std::uniform_int_distribution<size_t>(0, input.size())(rng);
      while (at < input.size() && (static_cast<uint8_t>(input[at]) & 0xC0) == 0x80) ++at;
      input.insert(at, kBad[bad(rng)]);
    }
    out.push_back(std::move(input));
  }
  return out;
}

}  // namespace

class TestPreTokenizerEngines : public QObject {
  Q_OBJECT

  uint64_t seed_ = 0;
  std::vector<std::string> corpus_;       // well-formed text without characters newer than PCRE2's
  std::vector<std::string> newer_text_;   // with characters newer than PCRE2's tables

 private slots:
  void initTestCase() {
    if (!PreTokenizer::icu_available()) QSKIP("Hearth was built without ICU: only PCRE2 pre-tokenizes");
    qInfo("Unicode: PCRE2 %s, ICU %s", unicode::pcre2_version().to_string().c_str(), unicode::icu_version().to_string().c_str());
    seed_ = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed_));
    std::mt19937_64 rng(seed_);

    const std::string book = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    if (std::filesystem::exists(book)) {
      corpus_ = test::utf8_chunks(test::read_file(book), 2048);
    } else {
      qWarning("%s is missing: the war-and-peace corpus is left out", book.c_str());
    }
    for (auto& input : test::multilingual_inputs()) corpus_.push_back(input);
    for (auto& input : test::code_inputs()) corpus_.push_back(input);
    for (auto& input : test::whitespace_digit_inputs(rng, 300)) corpus_.push_back(input);

    // What each library knows: old = every code point PCRE2's tables know alike (assigned or
    // not), newer = the characters only ICU knows.
    const unicode::Version pcre2 = unicode::pcre2_version();
    test::CodePointPool old, newer;
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      (unicode::age(cp) > pcre2 ? newer : old).add(cp);
    }
    qInfo("%llu code points newer than PCRE2's tables", static_cast<unsigned long long>(newer.size()));
    for (auto& input : test::random_utf8_inputs(rng, 600, old)) corpus_.push_back(input);
    newer_text_ = test::unicode15_sentences();
    for (auto& input : test::code_points_in_context(rng, newer)) newer_text_.push_back(input);
    // Random text with newer characters dropped in between its code points.
    for (std::string input : test::random_utf8_inputs(rng, 200, old)) {
      for (int n = 0; n < 4; ++n) {
        size_t at = std::uniform_int_distribution<size_t>(0, input.size())(rng);
        while (at < input.size() && (static_cast<uint8_t>(input[at]) & 0xC0) == 0x80) ++at;
        std::string c;
        utf8::append_codepoint(c, newer.pick_spread(rng));
        input.insert(at, c);
      }
      newer_text_.push_back(std::move(input));
    }
  }

  // PCRE2 and ICU cut the parity corpora alike, with and without ill-formed bytes.
  void engines_agree_on_the_corpora() {
    std::mt19937_64 rng(seed_ + 1);
    const std::vector<std::string> ill_formed = with_ill_formed_bytes(rng, std::vector<std::string>(corpus_.end() - 400, corpus_.end()));
    for (const char* pre : kPres) {
      const PreTokenizer splitter(pre);
      const size_t differences = count_differences(splitter, pre, corpus_, PreTokenizer::Engine::kPcre2, PreTokenizer::Engine::kIcu, "PCRE2 vs ICU");
      const size_t ill_formed_differences =
          count_differences(splitter, pre, ill_formed, PreTokenizer::Engine::kPcre2, PreTokenizer::Engine::kIcu, "PCRE2 vs ICU, ill-formed bytes");
      qInfo("%-12s %zu inputs: %zu differ; %zu with ill-formed bytes: %zu differ", pre, corpus_.size(), differences,
            ill_formed.size(), ill_formed_differences);
      QCOMPARE(differences, size_t{0});
      QCOMPARE(ill_formed_differences, size_t{0});
    }
  }

  // ... and every code point that both tables know alike, in context.
  void engines_agree_on_every_old_code_point() {
    const std::vector<std::string> chunks = every_old_code_point_in_context();
    for (const char* pre : kPres) {
      const PreTokenizer splitter(pre);
      const size_t differences = count_differences(splitter, pre, chunks, PreTokenizer::Engine::kPcre2, PreTokenizer::Engine::kIcu, "PCRE2 vs ICU");
      qInfo("%-12s %zu chunks of every code point: %zu differ", pre, chunks.size(), differences);
      QCOMPARE(differences, size_t{0});
    }
  }

  // Text with characters newer than PCRE2's tables: the automatic choice cuts it as ICU does,
  // and the corpus is one in which PCRE2 alone would cut differently (or the test proves nothing).
  void automatic_choice_is_icu_for_newer_characters() {
    size_t pcre2_differs = 0;
    for (const char* pre : kPres) {
      const PreTokenizer splitter(pre);
      QCOMPARE(count_differences(splitter, pre, newer_text_, PreTokenizer::Engine::kAuto, PreTokenizer::Engine::kIcu, "auto vs ICU"), size_t{0});
      for (const std::string& input : newer_text_) {
        pcre2_differs += splitter.split(input, PreTokenizer::Engine::kPcre2) != splitter.split(input, PreTokenizer::Engine::kIcu);
      }
    }
    qInfo("PCRE2 alone would cut %zu of %zu inputs differently", pcre2_differs, newer_text_.size() * std::size(kPres));
    QVERIFY(pcre2_differs > 0);
    // A concrete case: a CJK Extension H ideograph (Unicode 15.0, Lo) joins the letters before it.
    const PreTokenizer llama3("llama-bpe");
    const std::string text = "a\xF0\xB1\x8D\x90 b";
    QCOMPARE(llama3.split(text), (std::vector<std::string_view>{"a\xF0\xB1\x8D\x90", " b"}));
    QCOMPARE(llama3.split(text, PreTokenizer::Engine::kPcre2), (std::vector<std::string_view>{"a", "\xF0\xB1\x8D\x90", " b"}));
  }

  // Pieces cover the text exactly, in order, on both engines (ill-formed bytes included).
  void pieces_cover_the_text() {
    std::mt19937_64 rng(seed_ + 2);
    const std::vector<std::string> inputs = with_ill_formed_bytes(rng, newer_text_);
    for (const char* pre : kPres) {
      const PreTokenizer splitter(pre);
      for (const std::string& input : inputs) {
        for (const auto engine : {PreTokenizer::Engine::kAuto, PreTokenizer::Engine::kIcu}) {
          std::string joined;
          for (std::string_view piece : splitter.split(input, engine)) {
            QVERIFY(!piece.empty());
            QVERIFY(piece.data() == input.data() + joined.size());
            joined += piece;
          }
          QCOMPARE(joined, input);
        }
      }
    }
  }
};

QTEST_APPLESS_MAIN(TestPreTokenizerEngines)
#include "test_pre_tokenizer_engines.moc"
