// Synthetic llama-3 (with Llama 3 RoPE factors), qwen2.5 (QKV bias) and qwen3 (QK norm, head_dim
// != n_embd / n_head) models against the independent float64 NumPy reference (tests/reference),
// which reads the same GGUF with its own parser and dequantizer.
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "model_test_support.h"

using namespace hearth;
using namespace hearth::test;

class TestSyntheticReference : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { dir_ = scratch_.path().toStdString(); }

  void logits_match_float64_reference_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<int>("type");
    QTest::addColumn<double>("tolerance");
    // Float weights: float32 activations against float64 must agree to 1e-3 relative.
    for (const char* preset : {"tiny-llama-3", "tiny-qwen2.5", "tiny-qwen3"}) {
      QTest::addRow("%s-f32", preset) << preset << int(QuantTarget::kF32) << 1e-3;
      QTest::addRow("%s-f16", preset) << preset << int(QuantTarget::kF16) << 1e-3;
      QTest::addRow("%s-bf16", preset) << preset << int(QuantTarget::kBF16) << 1e-3;
      // Quantized weights: the reference dequantizes the same blocks; the difference left is our
      // int8 activation quantization in the dot products, so the bound is looser.
      QTest::addRow("%s-q8_0", preset) << preset << int(QuantTarget::kQ8_0) << 3e-2;
      QTest::addRow("%s-q4_k_m", preset) << preset << int(QuantTarget::kQ4_K_M) << 5e-2;
    }
  }

  void logits_match_float64_reference() {
    QFETCH(QString, preset);
    QFETCH(int, type);
    QFETCH(double, tolerance);
    const auto* p = find_model_preset(preset.toStdString());
    QVERIFY(p);
    const auto path = dir_ / (preset.toStdString() + "-" + std::to_string(type) + ".gguf");
    kernels::cpu::ThreadPool pool(2);
    SynthOptions options;
    options.type = static_cast<QuantTarget>(type);
    options.seed = 7;
    synth_model_file(path, *p, options, pool);

    const std::vector<TokenId> tokens = {1, 17, 300, 5, 999, 42, 42, 7, 256, 512, 3, 100};
    const auto ours = score_tokens(path, tokens);
    std::vector<double> ref;
    QString error;
    QVERIFY2(reference_logits(path, tokens, ref, error), qPrintable(error));
    QCOMPARE(ref.size(), ours.size());
    // Relative to the largest reference logit of each position.
    double worst = 0;
    const size_t V = ours.size() / tokens.size();
    for (size_t t = 0; t < tokens.size(); ++t) {
      double scale = 1e-12;
      for (size_t i = 0; i < V; ++i) scale = std::max(scale, std::abs(ref[t * V + i]));
      for (size_t i = 0; i < V; ++i) worst = std::max(worst, std::abs(ours[t * V + i] - ref[t * V + i]) / scale);
    }
    qInfo("%s: max relative logit error %.3g (bound %.0e)", qPrintable(QTest::currentDataTag()), worst, tolerance);
    QVERIFY2(worst <= tolerance, qPrintable(QString("relative error %1 > %2").arg(worst).arg(tolerance)));
    std::filesystem::remove(path);
  }


 private:
  QTemporaryDir scratch_;  // removed with the test object, whatever the outcome
  std::filesystem::path dir_;
};

QTEST_APPLESS_MAIN(TestSyntheticReference)
#include "test_synthetic_reference.moc"
