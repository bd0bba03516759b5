// Byte-level BPE: hand-built vocabularies with results worked out by hand, then a 556-token BPE
// trained by bpe_reference.py, whose plain-Python encoder (pre-tokenized with the `regex` module,
// not PCRE2) is the reference for every supported tokenizer.ggml.pre.
#include <QTest>

#include <filesystem>
#include <random>

#include "core/common/error.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/tokenizer/vocabulary.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;
using hearth::test::format_ids;

namespace {

// The 256 byte characters (id = byte), then `extra` normal tokens.
Vocabulary byte_vocab(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                      const std::string& pre = "gpt2") {
  const ByteLevelMap map;
  Vocabulary v;
  v.model = TokenizerModel::kByteLevelBpe;
  v.pre = pre;
  v.add_space_prefix = false;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(map.char_of(static_cast<uint8_t>(b)));
  for (const auto& t : extra) v.tokens.push_back(t);
  v.merges = merges;
  return v;
}

void add_token(Vocabulary& v, const std::string& text, TokenType type) {
  if (v.types.empty()) v.types.assign(v.tokens.size(), TokenType::kNormal);
  v.tokens.push_back(text);
  v.types.push_back(type);
}

const std::vector<std::string> kPres = {"gpt2", "llama-bpe", "qwen2", "smollm", "deepseek-llm"};

}  // namespace

class TestBpeTokenizer : public QObject {
  Q_OBJECT

 private slots:
  void byte_level_mapping() {
    const ByteLevelMap map;
    QCOMPARE(map.char_of(' '), std::string("\xC4\xA0"));   // Ġ U+0120
    QCOMPARE(map.char_of('\n'), std::string("\xC4\x8A"));  // Ċ U+010A
    QCOMPARE(map.char_of('A'), std::string("A"));
    QCOMPARE(map.char_of(0xAD), std::string("\xC5\x83"));  // the last of the 68 remapped bytes: U+0143
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    std::string spelled;
    map.encode(all, spelled);
    QVERIFY(utf8::is_valid(spelled));
    QCOMPARE(map.decode(spelled), all);
  }

  void lowest_rank_merges_first() {
    // "abc": "b c" has rank 0, so a + bc, although "a b" is also a merge.
    const auto tok = make_tokenizer(byte_vocab({"ab", "bc", "abc"}, {"b c", "a b", "ab c"}));
    QCOMPARE(tok->encode("abc", false, false), (std::vector<TokenId>{'a', 257}));
    QCOMPARE(tok->encode("ab", false, false), (std::vector<TokenId>{256}));
    QCOMPARE(tok->encode("ababc", false, false), (std::vector<TokenId>{256, 'a', 257}));
    QCOMPARE(tok->decode(tok->encode("ababc", false, false)), std::string("ababc"));
    // Words never merge across pre-token boundaries: "a bc" -> "a", " bc" (no " b" merge).
    QCOMPARE(tok->encode("a bc", false, false), (std::vector<TokenId>{'a', ' ', 257}));
  }

  void llama3_ignores_merges_for_whole_words() {
    // "abc" is a token but no merge builds it: Llama 3 takes the word whole, GPT-2 does not.
    const std::vector<std::string> extra = {"ab", "abc"};
    const auto gpt2 = make_tokenizer(byte_vocab(extra, {"a b"}, "gpt2"));
    const auto llama3 = make_tokenizer(byte_vocab(extra, {"a b"}, "llama-bpe"));
    QCOMPARE(gpt2->encode("abc", false, false), (std::vector<TokenId>{256, 'c'}));
    QCOMPARE(llama3->encode("abc", false, false), (std::vector<TokenId>{257}));
  }

  void any_bytes_round_trip() {
    const auto tok = make_tokenizer(byte_vocab({"ab"}, {"a b"}, "llama-bpe"));
    const std::string bytes = std::string("ok \xFF\xFE bad \xE2\x82 cut ab\0z", 20) + "\xF0\x9F\x98\x80";
    QCOMPARE(tok->decode(tok->encode(bytes, false, false)), bytes);
    for (const auto& pre : kPres) {
      const auto t = make_tokenizer(byte_vocab({}, {}, pre));
      QCOMPARE(t->decode(t->encode(bytes, false, false)), bytes);
    }
  }

  void special_tokens() {
    Vocabulary v = byte_vocab({}, {}, "qwen2");
    add_token(v, "<|im_start|>", TokenType::kControl);
    add_token(v, "<|im_end|>", TokenType::kControl);
    add_token(v, "<tool>", TokenType::kUserDefined);
    v.bos = 256;
    v.eos = 257;
    v.add_bos = false;
    const auto tok = make_tokenizer(v);
    QCOMPARE(tok->encode("<|im_start|>a<tool><|im_end|>", false, true), (std::vector<TokenId>{256, 'a', 258, 257}));
    QCOMPARE(tok->encode("a", true, false), (std::vector<TokenId>{256, 'a'}));  // the caller asked for BOS
    const auto plain = tok->encode("<|im_start|>", false, false);
    QCOMPARE(plain.size(), std::string("<|im_start|>").size());
    QCOMPARE(tok->decode(plain), std::string("<|im_start|>"));
    QCOMPARE(tok->token_to_piece(257), std::string());
    QCOMPARE(tok->token_to_piece(257, true), std::string("<|im_end|>"));
    QCOMPARE(tok->token_to_piece(258), std::string("<tool>"));
    QVERIFY(tok->is_end_of_generation(257));
    QVERIFY(!tok->is_end_of_generation(256));
    QCOMPARE(tok->bos(), 256);
    QVERIFY(!tok->add_bos_by_default());
  }

  void rejects_bad_metadata() {
    try {
      make_tokenizer(byte_vocab({}, {}, "no-such-pre"));
      QFAIL("no exception");
    } catch (const FormatError& e) {
      QVERIFY2(std::string(e.what()).find("no-such-pre") != std::string::npos, e.what());
    }
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(byte_vocab({"ab"}, {"a x"})));
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(byte_vocab({}, {"a b"})));  // "ab" is no token
    QVERIFY_THROWS_EXCEPTION(FormatError, make_tokenizer(byte_vocab({}, {"ab"})));
  }

  void matches_python_reference() {
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    if (!std::filesystem::exists(corpus_path)) QSKIP("shared/data/text/war-and-peace.txt is missing");
    const std::string corpus = test::read_file(corpus_path);
    const uint64_t seed = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);

    std::vector<std::string> inputs = {
        "", " ", "Hello world", "Hello  world", "  leading and trailing  ", "a\n\nb\r\n c \n",
        "I'm you're he'll we've she'd it's DON'T I'M", "numbers 1 12 123 1234 12345 3.14159 1,000,000",
        "tabs\there\t\tand\t", "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89!", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97 and \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
        "\xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
        "fullwidth \xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x81", "nbsp\xC2\xA0" "and\xE3\x80\x80ideographic",
        "combining e\xCC\x81 n\xCC\x83", "punct... !!! ??? --- (x) [y] {z}", "code: if (a == b) { return c; }\n",
        "  \n  \n", "trailing newline\n", "\xE2\x80\x98quoted\xE2\x80\x99 \xE2\x80\x9C" "double\xE2\x80\x9D",
        "\xD9\xA3\xD9\xA4 arabic digits", "NEL\xC2\x85line", "LS\xE2\x80\xA8sep", "zwsp\xE2\x80\x8Bjoin",
        "\xE1\xBD\xBD\xE1\xBE\xBE\xE2\x84\xA6\xE2\x84\xAA deepseek edge letters"};
    size_t line_start = 0, line_index = 0;
    while (line_start < corpus.size()) {
      size_t end = corpus.find('\n', line_start);
      if (end == std::string::npos) end = corpus.size();
      if (line_index++ % 29 == 0) inputs.push_back(corpus.substr(line_start, end - line_start));
      line_start = end + 1;
    }
    for (int i = 0; i < 400; ++i) {  // slices, moved off continuation bytes so they stay valid
      size_t start = rng() % corpus.size(), end = std::min(corpus.size(), start + 1 + rng() % 500);
      while (start < end && (static_cast<uint8_t>(corpus[start]) & 0xC0) == 0x80) ++start;
      while (end < corpus.size() && (static_cast<uint8_t>(corpus[end]) & 0xC0) == 0x80) ++end;
      inputs.push_back(corpus.substr(start, end - start));
    }
    const std::vector<std::string> alphabet = {
        " ", " ", "  ", "\t", "\n", "\r\n", "\xC2\xA0", "\xE3\x80\x80", "e", "th", "The", "IS", "'", "'s", "'S",
        "'ll", "'re", "'D", "1", "42", "7", "\xD9\xA3", "\xEF\xBC\x95", ".", ",", "!", "?!", "\xE2\x80\xA6",
        "\xE2\x80\x94", "\xEF\xBC\x9F", "\xC3\xA9", "\xCE\xB1\xCE\xB2", "\xD0\xB4\xD0\xB0", "\xE4\xB8\xAD",
        "\xED\x95\x9C", "\xE3\x81\x82", "\xF0\x9F\x98\x80", "\xCC\x81", "$", "+", "<", "=", "_", "\xE2\x82\xAC"};
    for (int i = 0; i < 600; ++i) {
      std::string s;
      const int n = static_cast<int>(rng() % 30);
      for (int k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
      inputs.push_back(s);
    }

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string out_dir = dir.path().toStdString();
    test::write_hex_lines(out_dir + "/inputs.txt", inputs);
    const auto script = test::run_python("bpe_reference.py", {QString::fromStdString(corpus_path),
                                         QString::fromStdString(out_dir + "/inputs.txt"), dir.path()});
    if (!script.ran) QSKIP("python (HEARTH_PYTHON) could not be started");
    if (script.exit_code == 77) QSKIP(("python3-regex unavailable: " + script.output).c_str());
    QVERIFY2(script.exit_code == 0, script.output.c_str());

    Vocabulary base;
    base.model = TokenizerModel::kByteLevelBpe;
    base.add_space_prefix = false;
    for (const auto& line : test::read_lines(out_dir + "/vocab.txt")) base.tokens.push_back(test::from_hex(line));
    for (const auto& line : test::read_lines(out_dir + "/merges.txt")) {
      const size_t space = line.find(' ');
      base.merges.push_back(test::from_hex(line.substr(0, space)) + " " + test::from_hex(line.substr(space + 1)));
    }
    qInfo("trained vocabulary: %d tokens, %zu merges", base.size(), base.merges.size());
    QVERIFY(base.merges.size() >= 200);

    size_t compared = 0;
    for (const std::string& pre : kPres) {
      Vocabulary v = base;
      v.pre = pre;
      const auto tok = make_tokenizer(v);
      const PreTokenizer splitter(pre);
      const auto splits = test::read_lines(out_dir + "/split_" + pre + ".txt");
      const auto ids = test::read_lines(out_dir + "/ids_" + pre + ".txt");
      QCOMPARE(splits.size(), inputs.size());
      QCOMPARE(ids.size(), inputs.size());
      size_t split_mismatches = 0, id_mismatches = 0;
      for (size_t i = 0; i < inputs.size(); ++i) {
        std::string got_split;
        for (std::string_view piece : splitter.split(inputs[i])) got_split += (got_split.empty() ? "" : " ") + test::to_hex(piece);
        if (got_split != splits[i] && ++split_mismatches <= 3) {
          qWarning("%s split of %s:\n  got  %s\n  want %s", pre.c_str(), test::to_hex(inputs[i]).c_str(),
                   got_split.c_str(), splits[i].c_str());
        }
        const auto got = tok->encode(inputs[i], false, false);
        const auto want = test::parse_ids(ids[i]);
        if (got != want && ++id_mismatches <= 3) {
          qWarning("%s ids of %s: got %s want %s", pre.c_str(), test::to_hex(inputs[i]).c_str(),
                   format_ids(got).c_str(), format_ids(want).c_str());
        }
        QVERIFY(tok->decode(got) == inputs[i]);
        ++compared;
      }
      qInfo("%s: %zu inputs, %zu split mismatches, %zu id mismatches", pre.c_str(), inputs.size(),
            split_mismatches, id_mismatches);
      QCOMPARE(split_mismatches, size_t{0});
      QCOMPARE(id_mismatches, size_t{0});
    }
    qInfo("compared %zu encodings with the Python reference", compared);
  }
};

QTEST_APPLESS_MAIN(TestBpeTokenizer)
#include "test_bpe_tokenizer.moc"
