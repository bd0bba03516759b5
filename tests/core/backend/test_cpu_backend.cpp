// The CPU backend's bookkeeping: the same logits whether a sequence is fed at once, token by
// token or in chunks; rollback (truncate) and recompute; clear errors for a full context and
// for token ids outside the vocabulary. Runs on the bundled stories260K model.
#include <QTest>

#include <cmath>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"

using namespace hearth;

namespace {

const char* kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

double max_rel_diff(const float* a, const float* b, int64_t n) {
  double worst = 0, scale = 1e-6;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, double(std::abs(b[i])));
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]) / scale);
  return worst;
}

}  // namespace

class TestCpuBackend : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    file_ = std::make_unique<gguf::GgufFile>(gguf::GgufFile::open(kModel));
    config_ = ModelConfig::from_gguf(*file_);
    weights_ = ModelWeights::from_gguf(*file_, config_);
    QCOMPARE(config_.n_layer, 5);
    QCOMPARE(config_.n_head, 8);
    QCOMPARE(config_.n_head_kv, 4);
    QCOMPARE(config_.n_vocab, 512);
  }

  void chunking_does_not_change_logits() {
    const std::vector<TokenId> tokens = {1, 403, 407, 261, 378, 11, 200, 300, 44, 45, 46, 47, 48};
    const int64_t n = int64_t(tokens.size()), V = config_.n_vocab;

    CpuBackend all_at_once(config_, weights_, {.n_threads = 2, .context_size = 64});
    std::vector<float> full;
    all_at_once.forward({tokens, true}, full);
    QCOMPARE(int64_t(full.size()), n * V);

    for (int64_t max_batch : {1, 3, 5}) {
      CpuBackend chunked(config_, weights_, {.n_threads = 3, .context_size = 64, .max_batch = max_batch});
      std::vector<float> logits;
      chunked.forward({tokens, true}, logits);
      QVERIFY2(max_rel_diff(logits.data(), full.data(), n * V) < 1e-4, "chunked prefill differs");
    }

    CpuBackend stepwise(config_, weights_, {.n_threads = 1, .context_size = 64});
    std::vector<float> logits;
    for (int64_t i = 0; i < n; ++i) {
      stepwise.forward({std::span(tokens).subspan(i, 1), false}, logits);
      QCOMPARE(int64_t(logits.size()), V);
      QVERIFY2(max_rel_diff(logits.data(), full.data() + i * V, V) < 1e-4,
               qPrintable(QString("token-by-token logits differ at position %1").arg(i)));
    }
    QCOMPARE(stepwise.n_past(), n);
  }

  // Huge-page resident copies of the weights compute exactly what the file mapping does.
  void resident_weights_match_the_mapping() {
    const std::vector<TokenId> tokens = {1, 403, 407, 261, 378, 11};
    CpuBackend mapped(config_, weights_, {.n_threads = 2, .context_size = 16, .resident_weights = false});
    CpuBackend resident(config_, weights_, {.n_threads = 2, .context_size = 16, .resident_weights = true});
    std::vector<float> a, b;
    mapped.forward({tokens, true}, a);
    resident.forward({tokens, true}, b);
    QCOMPARE(a, b);
  }

  void truncate_rolls_back() {
    CpuBackend backend(config_, weights_, {.n_threads = 2, .context_size = 32});
    const std::vector<TokenId> prefix = {1, 403, 407}, a = {261, 378}, b = {99, 100};
    std::vector<float> first, again, other;
    backend.forward({prefix, false}, first);
    backend.forward({a, false}, first);
    backend.truncate(3);
    QCOMPARE(backend.n_past(), 3);
    backend.forward({b, false}, other);
    backend.truncate(3);
    backend.forward({a, false}, again);
    QCOMPARE(again, first);  // deterministic: same inputs, same cache, same logits
    QVERIFY(other != first);
  }

  void full_context_is_an_error() {
    CpuBackend backend(config_, weights_, {.n_threads = 1, .context_size = 4});
    std::vector<float> logits;
    const std::vector<TokenId> five = {1, 2, 3, 4, 5};
    QVERIFY_THROWS_EXCEPTION(Error, backend.forward({five, false}, logits));
    QCOMPARE(backend.n_past(), 0);
    const std::vector<TokenId> four = {1, 2, 3, 4};
    backend.forward({four, false}, logits);
    const std::vector<TokenId> one = {1};
    QVERIFY_THROWS_EXCEPTION(Error, backend.forward({one, false}, logits));
  }

  void token_outside_vocabulary_is_an_error() {
    CpuBackend backend(config_, weights_, {.n_threads = 1, .context_size = 8});
    std::vector<float> logits;
    for (TokenId bad : {-1, 512, 1 << 30}) {
      const std::vector<TokenId> t = {1, bad};
      QVERIFY_THROWS_EXCEPTION(Error, backend.forward({t, false}, logits));
    }
    QCOMPARE(backend.n_past(), 0);
  }

 private:
  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
};

QTEST_APPLESS_MAIN(TestCpuBackend)
#include "test_cpu_backend.moc"
