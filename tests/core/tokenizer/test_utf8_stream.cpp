// Utf8StreamDecoder and the UTF-8 helpers: every split point of multi-byte text, the Unicode
// standard's own example of maximal subparts, and random byte strings against CPython's decoder.
#include <QTest>

#include <random>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;

namespace {

const std::string kFffd = "\xEF\xBF\xBD";

// Feeds `bytes` cut at the given (sorted) points; checks every piece of output is well-formed.
std::string stream(std::string_view bytes, const std::vector<size_t>& cuts) {
  Utf8StreamDecoder decoder;
  std::string out;
  size_t start = 0;
  for (size_t cut : cuts) {
    const std::string piece = decoder.push(bytes.substr(start, cut - start));
    if (!utf8::is_valid(piece)) throw std::runtime_error("ill-formed output piece");
    out += piece;
    start = cut;
  }
  out += decoder.push(bytes.substr(start));
  out += decoder.flush();
  return out;
}

}  // namespace

class TestUtf8Stream : public QObject {
  Q_OBJECT

 private slots:
  void every_split_point_of_multibyte_text() {
    // 1-, 2-, 3- and 4-byte characters.
    const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80z\xF0\x90\x8D\x88";
    for (size_t i = 0; i <= text.size(); ++i) {
      QCOMPARE(stream(text, {i}), text);
      for (size_t j = i; j <= text.size(); ++j) QCOMPARE(stream(text, {i, j}), text);
    }
    std::vector<size_t> each_byte;
    for (size_t i = 1; i < text.size(); ++i) each_byte.push_back(i);
    QCOMPARE(stream(text, each_byte), text);
  }

  void holds_back_incomplete_sequences() {
    Utf8StreamDecoder d;
    QCOMPARE(d.push("ab\xF0\x9F"), std::string("ab"));
    QCOMPARE(d.push("\x98"), std::string());
    QCOMPARE(d.push("\x80!"), std::string("\xF0\x9F\x98\x80!"));
    QCOMPARE(d.flush(), std::string());
    QCOMPARE(d.push("\xE4\xB8"), std::string());
    QCOMPARE(d.flush(), kFffd);  // one maximal subpart left over
    QCOMPARE(d.flush(), std::string());
    QCOMPARE(d.push("x"), std::string("x"));
  }

  void unicode_table_3_8_example() {
    // Unicode 15 section 3.9, table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
    const std::string bytes = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    const std::string want = "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d";
    QCOMPARE(utf8::sanitize(bytes), want);
    for (size_t i = 0; i <= bytes.size(); ++i) QCOMPARE(stream(bytes, {i}), want);
  }

  void ill_formed_sequences() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\xC0\xAF", kFffd + kFffd},                   // overlong lead bytes never start a sequence
        {"\xE0\x80\xAF", kFffd + kFffd + kFffd},       // E0 needs A0..BF next
        {"\xED\xA0\x80", kFffd + kFffd + kFffd},       // surrogate
        {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // above U+10FFFF
        {"\xF5", kFffd},
        {"\xE2\x82x", kFffd + "x"},                    // truncated, then ASCII: one U+FFFD
        {"\xF0\x9F\x98", kFffd},
        {"\x80\x80", kFffd + kFffd},
    };
    for (const auto& [bytes, want] : cases) {
      QCOMPARE(utf8::sanitize(bytes), want);
      for (size_t i = 0; i <= bytes.size(); ++i) QCOMPARE(stream(bytes, {i}), want);
    }
  }

  void random_bytes_match_cpython() {
    const uint64_t seed = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    // Bytes biased to the interesting ranges: ASCII, continuation bytes, each kind of lead byte.
    const std::vector<std::pair<int, int>> ranges = {{0x20, 0x7E}, {0x80, 0x8F}, {0x90, 0x9F}, {0xA0, 0xBF},
                                                     {0xC0, 0xC1}, {0xC2, 0xDF}, {0xE0, 0xE0}, {0xE1, 0xEC},
                                                     {0xED, 0xED}, {0xEE, 0xEF}, {0xF0, 0xF0}, {0xF1, 0xF3},
                                                     {0xF4, 0xF4}, {0xF5, 0xFF}};
    std::vector<std::string> inputs;
    for (int i = 0; i < 3000; ++i) {
      std::string s;
      const int n = static_cast<int>(rng() % 12);
      for (int k = 0; k < n; ++k) {
        const auto [lo, hi] = ranges[rng() % ranges.size()];
        s.push_back(static_cast<char>(lo + static_cast<int>(rng() % (hi - lo + 1))));
      }
      inputs.push_back(s);
    }
    QTemporaryDir dir;
    const std::string in = dir.path().toStdString() + "/in.txt", out = dir.path().toStdString() + "/out.txt";
    test::write_hex_lines(in, inputs);
    const auto script = test::run_python("utf8_reference.py", {QString::fromStdString(in), QString::fromStdString(out)});
    if (!script.ran) QSKIP("python (HEARTH_PYTHON) could not be started");
    QVERIFY2(script.exit_code == 0, script.output.c_str());
    const auto expected = test::read_lines(out);
    QCOMPARE(expected.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string want = test::from_hex(expected[i]);
      QVERIFY2(utf8::sanitize(inputs[i]) == want, test::to_hex(inputs[i]).c_str());
      std::vector<size_t> cuts;
      for (size_t k = 1; k < inputs[i].size(); ++k) {
        if (rng() % 3 == 0) cuts.push_back(k);
      }
      QVERIFY2(stream(inputs[i], cuts) == want, test::to_hex(inputs[i]).c_str());
      QCOMPARE(utf8::is_valid(inputs[i]), want == inputs[i]);
    }
  }
};

QTEST_APPLESS_MAIN(TestUtf8Stream)
#include "test_utf8_stream.moc"
