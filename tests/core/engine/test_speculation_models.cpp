// Speculative decoding on real models through the CPU backend: greedy outputs with n-gram or
// draft-model speculation equal the same requests without speculation (which test_engine_models
// and the stories260K reference tests pin down), for one stream and several concurrent ones.
// Pairs: stories260K F32 with itself quantized to q8_0 and q4_0 (the quantize code), and a
// synthetic tiny Qwen2.5 q8_0 with the q4_0 model of the same seed.
#include <QTemporaryDir>
#include <QTest>

#include <cstdio>
#include <random>

#include "core/engine/engine.h"
#include "core/model/model_presets.h"
#include "core/model/quantize_model.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/core/engine/engine_test_support.h"
#include "tests/core/model/model_test_support.h"

using namespace hearth;
using namespace hearth::test;

namespace {

EngineOptions cpu_options(int64_t max_running, const std::string& draft = {}) {
  EngineOptions o;
  o.backend.device = "cpu";
  o.backend.n_threads = 2;
  o.backend.context_size = 256;
  o.backend.kv_block_tokens = 16;
  o.max_running = max_running;
  o.token_budget = 128;
  o.prefill_chunk = 64;
  o.max_queue = 1000;
  o.draft_model_path = draft;
  return o;
}

std::vector<Collected> run(const std::string& model, const EngineOptions& options, const std::vector<Request>& requests,
                           bool concurrent, QString& problem) {
  Engine engine(options);
  std::vector<Collected> out;
  if (!load_and_wait(engine, model)) {
    problem = "load failed";
    return out;
  }
  Collector c;
  for (size_t i = 0; i < requests.size(); ++i) {
    engine.submit(requests[i], c.sink(static_cast<int>(i)));
    if (!concurrent && !c.wait_finished(static_cast<int>(i) + 1, std::chrono::seconds(240))) return out;
  }
  if (!c.wait_finished(static_cast<int>(requests.size()), std::chrono::seconds(240))) return out;
  for (size_t i = 0; i < requests.size(); ++i) out.push_back(c.get(static_cast<int>(i)));
  QString why;
  if (!pool_whole(engine, why)) problem = why;
  if (engine.stats().draft_kv_blocks_used != 0) problem += " draft KV blocks still in use";
  return out;
}

}  // namespace

class TestSpeculationModels : public QObject {
  Q_OBJECT

  QTemporaryDir scratch_;  // removed with the test object, whatever the outcome
  std::filesystem::path dir_;
  std::string stories_q8_, stories_q4_, synth_q8_, synth_q4_;

 private slots:
  void initTestCase() {
    dir_ = scratch_.path().toStdString();
    kernels::cpu::ThreadPool pool(2);
    stories_q8_ = (dir_ / "stories-q8_0.gguf").string();
    stories_q4_ = (dir_ / "stories-q4_0.gguf").string();
    quantize_model(kStoriesModel, stories_q8_, QuantTarget::kQ8_0, pool);
    quantize_model(kStoriesModel, stories_q4_, QuantTarget::kQ4_0, pool);
    const auto* p = find_model_preset("tiny-qwen2.5");
    QVERIFY(p);
    SynthOptions options;
    options.seed = 11;
    options.type = QuantTarget::kQ8_0;
    synth_q8_ = (dir_ / "spec-tiny-qwen2.5-q8_0.gguf").string();
    synth_model_file(synth_q8_, *p, options, pool);
    options.type = QuantTarget::kQ4_0;
    synth_q4_ = (dir_ / "spec-tiny-qwen2.5-q4_0.gguf").string();
    synth_model_file(synth_q4_, *p, options, pool);
  }

  void greedyEqualsPlain_data() {
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("draft");
    QTest::addColumn<int>("mode");
    QTest::addColumn<int>("vocab");
    const int ngram = static_cast<int>(SpecMode::kNgram), draft = static_cast<int>(SpecMode::kDraft),
              automatic = static_cast<int>(SpecMode::kAuto);
    const QString stories = kStoriesModel;
    QTest::newRow("stories260K, n-gram") << stories << QString() << ngram << 512;
    QTest::newRow("stories260K, q8_0 draft") << stories << QString::fromStdString(stories_q8_) << draft << 512;
    QTest::newRow("stories260K, q4_0 draft") << stories << QString::fromStdString(stories_q4_) << draft << 512;
    QTest::newRow("stories260K, auto") << stories << QString::fromStdString(stories_q4_) << automatic << 512;
    QTest::newRow("tiny-qwen2.5, n-gram") << QString::fromStdString(synth_q8_) << QString() << ngram << 992;
    QTest::newRow("tiny-qwen2.5, q4_0 draft") << QString::fromStdString(synth_q8_) << QString::fromStdString(synth_q4_) << draft
                                              << 992;
  }
  void greedyEqualsPlain() {
    QFETCH(QString, target);
    QFETCH(QString, draft);
    QFETCH(int, mode);
    QFETCH(int, vocab);
    const uint64_t seed = std::random_device{}();
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    std::vector<Request> plain, spec;
    for (int i = 0; i < 4; ++i) {
      std::vector<TokenId> p = {1};
      for (int k = 0; k < 12 + 5 * i; ++k) p.push_back(std::uniform_int_distribution<TokenId>(3, vocab - 1)(rng));
      const std::vector<TokenId> passage(p.begin() + 1, p.end());
      p.insert(p.end(), passage.begin(), passage.end());  // the passage twice: a "repeat it" workload
      Request r;
      r.prompt_tokens = p;
      r.max_tokens = 20 + 4 * i;
      r.sampling.temperature = 0;
      r.ignore_eos = true;
      plain.push_back(r);
      r.spec = static_cast<SpecMode>(mode);
      r.spec_max_draft = 5;
      spec.push_back(r);
    }
    QString problem;
    const auto reference = run(target.toStdString(), cpu_options(1), plain, false, problem);
    QCOMPARE(reference.size(), plain.size());
    for (const bool concurrent : {false, true}) {
      const auto got = run(target.toStdString(), cpu_options(4, draft.toStdString()), spec, concurrent, problem);
      QCOMPARE(got.size(), spec.size());
      QVERIFY2(problem.isEmpty(), qPrintable(problem));
      int64_t drafted = 0, accepted = 0, steps = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        QCOMPARE(got[i].finish_reason, reference[i].finish_reason);
        QCOMPARE(got[i].tokens, reference[i].tokens);
        QCOMPARE(got[i].text, reference[i].text);
        drafted += got[i].usage.drafted_tokens;
        accepted += got[i].usage.accepted_tokens;
        steps += got[i].usage.verify_steps;
      }
      std::printf("%s: drafted %lld, accepted %lld (%.2f), mean accepted length %.2f\n",
                  concurrent ? "4 concurrent" : "1 stream", static_cast<long long>(drafted), static_cast<long long>(accepted),
                  drafted ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0,
                  steps ? static_cast<double>(accepted) / static_cast<double>(steps) : 0.0);
      if (mode != static_cast<int>(SpecMode::kAuto)) QVERIFY2(drafted > 0, "nothing was drafted");
    }
  }
};

QTEST_APPLESS_MAIN(TestSpeculationModels)
#include "test_speculation_models.moc"
