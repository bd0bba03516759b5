// Opening a file with a 150k-token vocabulary (tokens, scores, token types) and 150k merges -
// 300k+ strings - must take well under a second: parsing is linear and builds no per-item labels.
#include <QTest>

#include <chrono>
#include <cstdio>

#include "core/gguf/gguf_file.h"

using namespace hearth;
using namespace hearth::gguf;

class TestGgufLargeVocab : public QObject {
  Q_OBJECT
 private slots:
  void opensQuickly() {
    constexpr int kTokens = 150000;
    constexpr int kMerges = 150000;
    Array tokens{ValueType::kString, {}}, scores{ValueType::kFloat32, {}}, types{ValueType::kInt32, {}},
        merges{ValueType::kString, {}};
    for (int i = 0; i < kTokens; ++i) {
      tokens.items.emplace_back("token_" + std::to_string(i));
      scores.items.emplace_back(static_cast<float>(-i));
      types.items.emplace_back(int32_t{1});
    }
    for (int i = 0; i < kMerges; ++i) merges.items.emplace_back("t" + std::to_string(i) + " k" + std::to_string(i));
    GgufWriter w;
    w.set("general.architecture", "llama");
    w.set("tokenizer.ggml.tokens", std::move(tokens));
    w.set("tokenizer.ggml.scores", std::move(scores));
    w.set("tokenizer.ggml.token_type", std::move(types));
    w.set("tokenizer.ggml.merges", std::move(merges));
    w.set("tokenizer.ggml.eos_token_id", uint32_t{kTokens - 1});
    const auto bytes = w.write_to_bytes();

    const auto start = std::chrono::steady_clock::now();
    GgufFile f = GgufFile::from_bytes(bytes);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "parsed %zu bytes with %d strings in %.1f ms\n", bytes.size(), kTokens + kMerges, ms);
    QCOMPARE(f.get_string_array("tokenizer.ggml.tokens")->back(), std::string("token_149999"));
    QCOMPARE(f.get_string_array("tokenizer.ggml.merges")->at(7), std::string("t7 k7"));
    QVERIFY2(ms < 1000, "opening took a second or more");
  }
};

QTEST_APPLESS_MAIN(TestGgufLargeVocab)
#include "test_gguf_large_vocab.moc"
