// Encoding speed on War and Peace (3.2 MB) with Llama 2's SentencePiece vocabulary (dumped by
// spm_reference.py). Prints MB/s; a benchmark, so it asserts only a very loose floor.
#include <QTest>

#include <chrono>
#include <filesystem>

#include "core/tokenizer/vocabulary.h"
#include "tests/core/tokenizer/spm_reference_vocab.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;

class TestTokenizerSpeed : public QObject {
  Q_OBJECT

 private slots:
  void spm_encode_war_and_peace() {
    const std::string model = std::string(HEARTH_SHARED_DIR) + "/data/tokenizers/llama2-tokenizer.model";
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    if (!std::filesystem::exists(model) || !std::filesystem::exists(corpus_path)) QSKIP("shared data missing");
    QTemporaryDir dir;
    test::write_hex_lines(dir.path().toStdString() + "/inputs.txt", {});
    const auto script = test::run_python("spm_reference.py", {QString::fromStdString(model),
                                         dir.path() + "/inputs.txt", dir.path()});
    if (!script.ran || script.exit_code == 77) QSKIP("python3-sentencepiece unavailable");
    QVERIFY2(script.exit_code == 0, script.output.c_str());
    const auto tok = make_tokenizer(test::load_spm_reference_vocab(dir.path().toStdString() + "/vocab.tsv"));
    const std::string corpus = test::read_file(corpus_path);
    double best = 1e9;
    size_t n_tokens = 0;
    for (int run = 0; run < 5; ++run) {
      const auto start = std::chrono::steady_clock::now();
      n_tokens = tok->encode(corpus, true, false).size();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    qInfo("SentencePiece (llama2, 32000 pieces): %zu bytes -> %zu tokens, best of 5: %.3f s = %.1f MB/s",
          corpus.size(), n_tokens, best, corpus.size() / best / 1e6);
    QVERIFY(corpus.size() / best > 1e6);
  }
};

QTEST_APPLESS_MAIN(TestTokenizerSpeed)
#include "test_tokenizer_speed.moc"
