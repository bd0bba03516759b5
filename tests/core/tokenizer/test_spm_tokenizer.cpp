// SentencePiece-style tokenizer: hand-built vocabularies with results worked out by hand, then
// Llama 2's 32000-piece model against Debian's python3-sentencepiece on War and Peace, random
// slices and crafted strings (spaces, tabs, newlines, emoji, CJK, combining marks, bad UTF-8).
#include <QTest>

#include <chrono>
#include <filesystem>
#include <random>

#include "core/common/error.h"
#include "core/tokenizer/spm_tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/tokenizer/vocabulary.h"
#include "tests/core/tokenizer/spm_reference_vocab.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;
using hearth::test::format_ids;

namespace {

const std::string kSp = "\xE2\x96\x81";  // U+2581

// <unk> <s> </s>, 256 byte tokens, then the given normal pieces (ids from 259).
Vocabulary small_vocab(const std::vector<std::pair<std::string, float>>& pieces, bool byte_tokens = true) {
  Vocabulary v;
  v.model = TokenizerModel::kSentencePiece;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  v.scores = {0, 0, 0};
  if (byte_tokens) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      v.tokens.push_back(name);
      v.types.push_back(TokenType::kByte);
      v.scores.push_back(0);
    }
  }
  for (const auto& [text, score] : pieces) {
    v.tokens.push_back(text);
    v.types.push_back(TokenType::kNormal);
    v.scores.push_back(score);
  }
  v.unk = 0, v.bos = 1, v.eos = 2;
  v.add_bos = true;
  return v;
}

TokenId id_of(const Vocabulary& v, const std::string& text) {
  for (TokenId i = 0; i < v.size(); ++i) {
    if (v.tokens[i] == text) return i;
  }
  return -100;
}

std::vector<TokenId> ids_of(const Vocabulary& v, const std::vector<std::string>& texts) {
  std::vector<TokenId> ids;
  for (const auto& t : texts) ids.push_back(id_of(v, t));
  return ids;
}

}  // namespace

class TestSpmTokenizer : public QObject {
  Q_OBJECT

 private slots:
  void merges_by_highest_score() {
    // "abc" -> "▁abc": pairs ▁a(-3) ab(-2) bc(-1.5): bc first, then ▁a; "▁abc" is no piece.
    const Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -2}, {"bc", -1.5f},
                                      {kSp + "a", -3}, {"abc", -4}});
    const auto tok = make_tokenizer(v);
    QCOMPARE(tok->encode("abc", false, false), ids_of(v, {kSp + "a", "bc"}));
    QCOMPARE(tok->encode("abc", true, false), (std::vector<TokenId>{1, id_of(v, kSp + "a"), id_of(v, "bc")}));
    QCOMPARE(tok->decode(tok->encode("abc", true, false)), std::string("abc"));
  }

  void ties_go_to_the_leftmost_pair() {
    const Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}, {"aa", -2}});
    const auto tok = make_tokenizer(v);
    // ▁ a a a: "aa" at 1 and 2 score the same; the left one merges.
    QCOMPARE(tok->encode("aaa", false, false), ids_of(v, {kSp, "aa", "a"}));
    QCOMPARE(tok->encode("aaaa", false, false), ids_of(v, {kSp, "aa", "aa"}));
  }

  void spaces_and_dummy_prefix() {
    Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}, {kSp + kSp, -2}, {kSp + "a", -1.5f}});
    auto tok = make_tokenizer(v);
    // "  a " -> "▁▁▁a▁": ▁a (-1.5) beats ▁▁ (-2); then ▁▁ from the first two.
    QCOMPARE(tok->encode("  a ", false, false), ids_of(v, {kSp + kSp, kSp + "a", kSp}));
    QCOMPARE(tok->decode(tok->encode("  a ", false, false)), std::string("  a "));
    QCOMPARE(tok->encode("", false, false), std::vector<TokenId>{});
    QCOMPARE(tok->encode("", true, false), std::vector<TokenId>{1});
    v.add_space_prefix = false;
    tok = make_tokenizer(v);
    QCOMPARE(tok->encode("a", false, false), ids_of(v, {"a"}));
    QCOMPARE(tok->decode(ids_of(v, {kSp + "a"})), std::string(" a"));  // no prefix to strip
  }

  void byte_fallback_and_unknown() {
    const Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}});
    const auto tok = make_tokenizer(v);
    // é = C3 A9 is no piece: its bytes. An ill-formed byte becomes U+FFFD first (EF BF BD).
    QCOMPARE(tok->encode("a\xC3\xA9", false, false),
             (std::vector<TokenId>{id_of(v, kSp), id_of(v, "a"), 3 + 0xC3, 3 + 0xA9}));
    QCOMPARE(tok->encode("\xFF", false, false),
             (std::vector<TokenId>{id_of(v, kSp), 3 + 0xEF, 3 + 0xBF, 3 + 0xBD}));
    QCOMPARE(tok->decode(tok->encode("a\xC3\xA9", true, false)), std::string("a\xC3\xA9"));
    QCOMPARE(tok->token_to_piece(3 + 0x41), std::string("A"));

    const Vocabulary no_bytes = small_vocab({{kSp, -1}, {"a", -1}}, false);
    const auto tok2 = make_tokenizer(no_bytes);
    QCOMPARE(tok2->encode("a\xC3\xA9", false, false), (std::vector<TokenId>{id_of(no_bytes, kSp), id_of(no_bytes, "a"), 0}));
    QCOMPARE(tok2->token_to_piece(0), std::string(" \xE2\x81\x87 "));
    QCOMPARE(tok2->token_to_piece(0, true), std::string("<unk>"));
  }

  void special_tokens_only_when_parsed() {
    Vocabulary v = small_vocab({{kSp, -1}, {"<", -1}, {">", -1}, {"|", -1}, {"x", -1}});
    v.tokens.push_back("<|x|>");
    v.types.push_back(TokenType::kControl);
    v.scores.push_back(0);
    v.tokens.push_back("<|x|>>");  // longer user-defined token: longest match wins
    v.types.push_back(TokenType::kUserDefined);
    v.scores.push_back(0);
    const TokenId ctl = v.size() - 2, user = v.size() - 1;
    const auto tok = make_tokenizer(v);
    const auto special = tok->encode("x<|x|>x<|x|>>", false, true);
    // Dummy prefix at the start and after each special token (llama.cpp's rule).
    QCOMPARE(special, (std::vector<TokenId>{id_of(v, kSp), id_of(v, "x"), ctl, id_of(v, kSp), id_of(v, "x"), user}));
    const auto plain = tok->encode("x<|x|>", false, false);
    QVERIFY2(std::find(plain.begin(), plain.end(), ctl) == plain.end(), format_ids(plain).c_str());
    QCOMPARE(tok->decode(plain), std::string("x<|x|>"));
    QCOMPARE(tok->token_to_piece(ctl), std::string());
    QCOMPARE(tok->token_to_piece(ctl, true), std::string("<|x|>"));
    QCOMPARE(tok->decode({1, ctl}, true), std::string("<s><|x|>"));
  }

  void bos_and_eos_framing() {
    Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}});
    v.add_bos = false;
    auto tok = make_tokenizer(v);
    QVERIFY(!tok->add_bos_by_default());
    QCOMPARE(tok->encode("a", true, false), (std::vector<TokenId>{1, id_of(v, kSp), id_of(v, "a")}));
    v.add_eos = true;
    tok = make_tokenizer(v);
    QCOMPARE(tok->encode("a", true, false), (std::vector<TokenId>{1, id_of(v, kSp), id_of(v, "a"), 2}));
    QCOMPARE(tok->encode("a", false, false), (std::vector<TokenId>{id_of(v, kSp), id_of(v, "a")}));
    v.bos = -1;
    tok = make_tokenizer(v);
    QCOMPARE(tok->bos(), -1);
    QCOMPARE(tok->encode("a", true, false), (std::vector<TokenId>{id_of(v, kSp), id_of(v, "a"), 2}));
  }

  void end_of_generation() {
    Vocabulary v = small_vocab({{kSp, -1}});
    for (const char* text : {"<|im_end|>", "<|eot_id|>", "<end_of_turn>"}) {
      v.tokens.push_back(text);
      v.types.push_back(TokenType::kControl);
      v.scores.push_back(0);
    }
    v.tokens.push_back("<|endoftext|>");
    v.types.push_back(TokenType::kNormal);  // not a control token: plain text
    v.scores.push_back(0);
    const auto tok = make_tokenizer(v);
    QVERIFY(tok->is_end_of_generation(2));
    QVERIFY(!tok->is_end_of_generation(1));
    QVERIFY(tok->is_end_of_generation(v.size() - 4));
    QVERIFY(tok->is_end_of_generation(v.size() - 2));
    QVERIFY(!tok->is_end_of_generation(v.size() - 1));
    QVERIFY(!tok->is_end_of_generation(-1));
    QVERIFY(!tok->is_end_of_generation(v.size()));
  }

  void unused_pieces_are_split_back() {
    // "ab" is unused: it merges (so "abc" can form) but is emitted as a + b.
    Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -0.5f}, {"abc", -5}});
    v.types[id_of(v, "ab")] = TokenType::kUnused;
    const auto tok = make_tokenizer(v);
    QCOMPARE(tok->encode("ab", false, false), ids_of(v, {kSp, "a", "b"}));
    QCOMPARE(tok->encode("abc", false, false), ids_of(v, {kSp, "abc"}));
  }

  void merges_across_words_when_the_vocab_allows() {
    // "a▁b" spans a word boundary, so words cannot be merged one at a time.
    const Vocabulary v = small_vocab({{kSp, -1}, {"a", -1}, {"b", -1}, {"a" + kSp, -2}, {"a" + kSp + "b", -3}});
    const auto tok = make_tokenizer(v);
    QVERIFY(!dynamic_cast<const SpmTokenizer&>(*tok).splits_words());
    QCOMPARE(tok->encode("a b", false, false), ids_of(v, {kSp, "a" + kSp + "b"}));
    const auto plain = make_tokenizer(small_vocab({{kSp, -1}, {"a", -1}}));
    QVERIFY(dynamic_cast<const SpmTokenizer&>(*plain).splits_words());
  }

  void rejects_inconsistent_vocabularies() {
    Vocabulary v = small_vocab({{kSp, -1}});
    v.scores.pop_back();
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(v));
    v = small_vocab({{kSp, -1}});
    v.bos = v.size();
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(v));
    v = small_vocab({{kSp, -1}});
    v.types[5] = static_cast<TokenType>(9);
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(v));
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(Vocabulary{}));
  }

  void matches_sentencepiece_on_llama2() {
    const std::string model = std::string(HEARTH_SHARED_DIR) + "/data/tokenizers/llama2-tokenizer.model";
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    if (!std::filesystem::exists(model) || !std::filesystem::exists(corpus_path)) {
      QSKIP("shared/data/tokenizers/llama2-tokenizer.model or war-and-peace.txt is missing");
    }
    const std::string corpus = test::read_file(corpus_path);
    const uint64_t seed = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);

    std::vector<std::string> inputs = {
        "", " ", "  ", "a", " a", "a ", "  leading", "trailing  ", "multiple   spaces  inside",
        "\n", "\n\n", "line one\nline two\n", "\ttab\tseparated\t", "\r\n", "mixed \t\n spaces",
        "Hello world", "Hello, World! 12345 3.14159", "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 done",
        "CJK \xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
        "combining e\xCC\x81 a\xCC\x8A n\xCC\x83", "\xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC",
        "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", "nbsp\xC2\xA0here", "ideographic\xE3\x80\x80space",
        "bad \xFF byte", "cut \xE2\x96", "overlong \xC0\x80", "surrogate \xED\xA0\x80", "too big \xF4\x90\x80\x80",
        "\xEF\xBF\xBD literal replacement", std::string("nul\0inside", 10), "<s>not special</s>", "<0x41>",
        "\xE2\x96\x81 already a block", "a\xE2\x96\x81\xE2\x96\x81" "b", "ALL CAPS SHOUTING", "don't won't I'm",
        "https://example.com/path?query=1&b=2", "    def f(x):\n        return x * 2\n"};
    // Lines of the book (every 7th, so a few thousand), and random byte slices of it (they may cut
    // a UTF-8 sequence at either end).
    size_t line_start = 0, line_index = 0;
    while (line_start < corpus.size()) {
      size_t end = corpus.find('\n', line_start);
      if (end == std::string::npos) end = corpus.size();
      if (line_index++ % 7 == 0) inputs.push_back(corpus.substr(line_start, end - line_start));
      line_start = end + 1;
    }
    for (int i = 0; i < 1500; ++i) {
      const size_t length = 1 + rng() % 600;
      const size_t start = rng() % (corpus.size() - length);
      inputs.push_back(corpus.substr(start, length));
    }
    // Random byte soup from a biased alphabet (spaces, letters, multi-byte pieces, stray bytes).
    const std::vector<std::string> alphabet = {" ", " ", "e", "t", "a", "th", "\n", "\t", "\xC3\xA9", "\xE4\xB8\xAD",
                                               "\xF0\x9F\x98\x80", "\xFF", "\x80", "\xE2\x96", ".", "1", "Q"};
    for (int i = 0; i < 300; ++i) {
      std::string s;
      const int n = static_cast<int>(rng() % 40);
      for (int k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
      inputs.push_back(s);
    }
    inputs.push_back(corpus);  // the whole book as one sequence

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string out_dir = dir.path().toStdString();
    test::write_hex_lines(out_dir + "/inputs.txt", inputs);
    const auto script = test::run_python("spm_reference.py", {QString::fromStdString(model),
                                         QString::fromStdString(out_dir + "/inputs.txt"), dir.path()});
    if (!script.ran) QSKIP("python (HEARTH_PYTHON) could not be started");
    if (script.exit_code == 77) QSKIP(("sentencepiece unavailable: " + script.output).c_str());
    QVERIFY2(script.exit_code == 0, script.output.c_str());

    Vocabulary vocab = test::load_spm_reference_vocab(out_dir + "/vocab.tsv");
    QCOMPARE(vocab.size(), 32000);
    vocab.validate();
    // Also merge whole inputs at once (what vocabularies with pieces like "a▁b" need).
    const SpmTokenizer whole(vocab, false);
    QVERIFY(!whole.splits_words());
    const auto tok = make_tokenizer(std::move(vocab));
    QVERIFY(dynamic_cast<const SpmTokenizer&>(*tok).splits_words());
    const auto expected_ids = test::read_lines(out_dir + "/ids.txt");
    const auto expected_text = test::read_lines(out_dir + "/decoded.txt");
    QCOMPARE(expected_ids.size(), inputs.size());
    QCOMPARE(expected_text.size(), inputs.size());

    size_t mismatches = 0, whole_mismatches = 0, decode_checked = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      const std::vector<TokenId> ids = tok->encode(inputs[i], false, false);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (i + 1 == inputs.size()) {
        qInfo("whole book: %zu bytes -> %zu tokens in %.3f s = %.1f MB/s", inputs[i].size(), ids.size(), seconds,
              inputs[i].size() / seconds / 1e6);
      }
      const std::vector<TokenId> want = test::parse_ids(expected_ids[i]);
      if (whole.encode(inputs[i], false, false) != want) ++whole_mismatches;
      if (ids != want) {
        if (++mismatches <= 5) {
          qWarning("input %zu (hex %s): got %s want %s", i, test::to_hex(inputs[i].substr(0, 80)).c_str(),
                   format_ids(ids).c_str(), format_ids(want).c_str());
        }
        continue;
      }
      // sentencepiece's decode replaces bad UTF-8 in the output; compare where ours is well-formed.
      const std::string text = tok->decode(ids);
      if (utf8::is_valid(text)) {
        ++decode_checked;
        QCOMPARE(test::to_hex(text), expected_text[i]);
        // Identity normalization round-trips, except for U+2581 itself (it decodes as a space).
        if (utf8::is_valid(inputs[i]) && inputs[i].find(kSp) == std::string::npos) {
          QVERIFY2(text == inputs[i], test::to_hex(inputs[i].substr(0, 80)).c_str());
        }
      }
    }
    qInfo("compared %zu inputs (%zu decodes) with sentencepiece: %zu mismatches, %zu merging whole inputs",
          inputs.size(), decode_checked, mismatches, whole_mismatches);
    QCOMPARE(mismatches, size_t{0});
    QCOMPARE(whole_mismatches, size_t{0});
  }
};

QTEST_APPLESS_MAIN(TestSpmTokenizer)
#include "test_spm_tokenizer.moc"
