// Tokenizer::from_gguf on stories260K.gguf (512 pieces, SentencePiece-style), checked against an
// independent re-implementation of llama2.c's encoder reading the model's tok512.bin, and
// from_gguf's errors on hand-written GGUF files.
#include <QTest>

#include <cstring>
#include <filesystem>
#include <map>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;

namespace {

// llama2.c's tokenizer (run.c encode): dummy-prefix space, one symbol per UTF-8 character or its
// bytes (+3) when the character is no piece, then repeatedly merge the best-scoring pair (leftmost
// on ties). Deliberately simple and quadratic.
class Llama2cTokenizer {
 public:
  explicit Llama2cTokenizer(const std::string& bytes) {
    size_t off = 4;  // int32 max_token_length
    for (int i = 0; i < 512; ++i) {
      float score;
      int32_t len;
      std::memcpy(&score, bytes.data() + off, 4);
      std::memcpy(&len, bytes.data() + off + 4, 4);
      off += 8;
      pieces_.push_back(bytes.substr(off, len));
      scores_.push_back(score);
      ids_.emplace(pieces_.back(), i);
      off += len;
    }
  }

  std::vector<TokenId> encode(const std::string& text) const {
    std::vector<TokenId> tokens = {1};
    if (text.empty()) return tokens;
    const std::string t = " " + text;
    for (size_t i = 0; i < t.size();) {
      size_t j = i + 1;
      while (j < t.size() && (static_cast<uint8_t>(t[j]) & 0xC0) == 0x80 && j - i < 4) ++j;
      const auto it = ids_.find(t.substr(i, j - i));
      if (it != ids_.end()) {
        tokens.push_back(it->second);
      } else {
        for (size_t k = i; k < j; ++k) tokens.push_back(static_cast<uint8_t>(t[k]) + 3);
      }
      i = j;
    }
    while (true) {
      float best = -1e10f;
      int best_index = -1, best_id = -1;
      for (size_t k = 1; k + 1 < tokens.size(); ++k) {
        const auto it = ids_.find(pieces_[tokens[k]] + pieces_[tokens[k + 1]]);
        if (it != ids_.end() && scores_[it->second] > best) {
          best = scores_[it->second];
          best_index = static_cast<int>(k);
          best_id = it->second;
        }
      }
      if (best_index < 0) break;
      tokens[best_index] = best_id;
      tokens.erase(tokens.begin() + best_index + 1);
    }
    return tokens;
  }

 private:
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::map<std::string, int> ids_;
};

std::vector<uint8_t> tokenizer_gguf(const std::string& model, const std::vector<std::string>& tokens,
                                    const std::string& pre = "") {
  gguf::GgufWriter writer;
  writer.set("general.architecture", gguf::Value(std::string("llama")));
  writer.set("tokenizer.ggml.model", gguf::Value(model));
  if (!pre.empty()) writer.set("tokenizer.ggml.pre", gguf::Value(pre));
  gguf::Array array;
  array.element_type = gguf::ValueType::kString;
  for (const auto& t : tokens) array.items.emplace_back(t);
  writer.set("tokenizer.ggml.tokens", gguf::Value(array));
  return writer.write_to_bytes();
}

}  // namespace

class TestTokenizerGguf : public QObject {
  Q_OBJECT

 private slots:
  void stories260k_prompt() {
    const std::string path = std::string(HEARTH_SOURCE_DIR) + "/resources/models/stories260K.gguf";
    if (!std::filesystem::exists(path)) QSKIP("resources/models/stories260K.gguf is missing");
    const gguf::GgufFile file = gguf::GgufFile::open(path);
    const auto tok = Tokenizer::from_gguf(file);
    QCOMPARE(tok->vocab_size(), 512);
    QCOMPARE(tok->bos(), 1);
    QCOMPARE(tok->eos(), 2);
    QVERIFY(tok->add_bos_by_default());
    QVERIFY(tok->is_end_of_generation(2));
    // " Once", " upon", " a", " time" in tok512.bin; llama2.c prints the same ids.
    const std::vector<TokenId> ids = tok->encode("Once upon a time", true, false);
    QCOMPARE(ids, (std::vector<TokenId>{1, 403, 407, 261, 378}));
    QCOMPARE(tok->decode(ids), std::string("Once upon a time"));
    QCOMPARE(tok->token_to_piece(403), std::string(" Once"));
  }

  void stories260k_matches_llama2c_tokenizer() {
    const std::string path = std::string(HEARTH_SOURCE_DIR) + "/resources/models/stories260K.gguf";
    const std::string tok512 = std::string(HEARTH_SHARED_DIR) + "/data/models/stories260K/tok512.bin";
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    if (!std::filesystem::exists(path) || !std::filesystem::exists(tok512) || !std::filesystem::exists(corpus_path)) {
      QSKIP("stories260K.gguf, tok512.bin or war-and-peace.txt is missing");
    }
    const auto tok = Tokenizer::from_gguf(gguf::GgufFile::open(path));
    const Llama2cTokenizer reference(test::read_file(tok512));
    std::vector<std::string> inputs = test::read_lines(std::string(HEARTH_TEST_DATA_DIR) + "/stories260K_reference.txt");
    const std::string corpus = test::read_file(corpus_path);
    size_t start = 0;
    for (int line = 0; line < 4000 && start < corpus.size(); ++line) {
      size_t end = corpus.find('\n', start);
      if (end == std::string::npos) end = corpus.size();
      if (line % 8 == 0) inputs.push_back(corpus.substr(start, end - start));
      start = end + 1;
    }
    inputs.push_back("  two leading, trailing two  ");
    inputs.push_back("caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 tabs\tand\nnewlines");
    size_t compared = 0;
    for (const auto& text : inputs) {
      if (!utf8::is_valid(text)) continue;  // llama2.c has no U+FFFD step for bad bytes
      const auto want = reference.encode(text);
      const auto got = tok->encode(text, true, false);
      QVERIFY2(got == want, ("text: " + text + "\n got " + test::format_ids(got) + "\nwant " + test::format_ids(want)).c_str());
      QVERIFY2(tok->decode(got) == text, text.c_str());
      ++compared;
    }
    qInfo("compared %zu texts with the llama2.c tokenizer", compared);
    QVERIFY(compared > 400);
  }

  void rejects_bad_tokenizer_metadata() {
    const auto open = [](const std::vector<uint8_t>& bytes) { return gguf::GgufFile::from_bytes(bytes); };
    QVERIFY_THROWS_EXCEPTION(FormatError, Tokenizer::from_gguf(open(tokenizer_gguf("bert", {"a", "b"}))));
    QVERIFY_THROWS_EXCEPTION(FormatError, Tokenizer::from_gguf(open(tokenizer_gguf("llama", {}))));
    try {
      Tokenizer::from_gguf(open(tokenizer_gguf("gpt2", {"a", "b"}, "mystery-pre")));
      QFAIL("no exception");
    } catch (const FormatError& e) {
      QVERIFY2(std::string(e.what()).find("mystery-pre") != std::string::npos, e.what());
    }
    gguf::GgufWriter writer;
    writer.set("tokenizer.ggml.model", gguf::Value(std::string("llama")));
    QVERIFY_THROWS_EXCEPTION(FormatError, Tokenizer::from_gguf(open(writer.write_to_bytes())));  // no tokens
    // A gpt2 vocabulary without merges still works (every byte its own token).
    const auto tok = Tokenizer::from_gguf(open(tokenizer_gguf("gpt2", {"a", "b", "\xC4\xA0"}, "gpt2")));
    QCOMPARE(tok->encode("ab a", false, false), (std::vector<TokenId>{0, 1, 2, 0}));
  }
};

QTEST_APPLESS_MAIN(TestTokenizerGguf)
#include "test_tokenizer_gguf.moc"
