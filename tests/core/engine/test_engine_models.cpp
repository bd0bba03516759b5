// Batch invariance of the Engine on real models through the CPU backend's paged forward pass:
// greedy outputs of concurrent requests, shared-prefix requests, chunked prefill and preempted
// requests must all equal the same request run alone, unshared and one-shot in a fresh engine.
// Models: stories260K (llama2.c weights) and a synthetic tiny Qwen2.5 (GQA, biases).
#include <QTemporaryDir>
#include <QTest>

#include <cstdio>
#include <random>

#include "core/engine/engine.h"
#include "core/model/model_presets.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/core/engine/engine_test_support.h"
#include "tests/core/model/model_test_support.h"

using namespace hearth;
using namespace hearth::test;

namespace {

EngineOptions cpu_options(int64_t max_running, int64_t budget, int64_t chunk, int64_t kv_blocks = 0) {
  EngineOptions o;
  o.backend.device = "cpu";
  o.backend.n_threads = 2;
  o.backend.context_size = 256;
  o.backend.kv_block_tokens = 16;
  o.max_running = max_running;
  o.token_budget = budget;
  o.prefill_chunk = chunk;
  o.kv_blocks = kv_blocks;
  o.max_queue = 1000;
  return o;
}

Request greedy(std::vector<TokenId> prompt, int64_t n) {
  Request r;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = n;
  r.sampling.temperature = 0;
  r.ignore_eos = true;  // fixed lengths, so every token is compared
  return r;
}

// Runs the requests through one engine: all submitted at once, or one after another.
std::vector<Collected> run(const std::string& model, const EngineOptions& options, const std::vector<Request>& requests,
                           bool concurrent, QString* pool_problem = nullptr, EngineStats* stats = nullptr) {
  Engine engine(options);
  std::vector<Collected> out;
  if (!load_and_wait(engine, model)) return out;
  Collector c;
  for (size_t i = 0; i < requests.size(); ++i) {
    engine.submit(requests[i], c.sink(static_cast<int>(i)));
    if (!concurrent && !c.wait_finished(static_cast<int>(i) + 1)) return out;
  }
  if (!c.wait_finished(static_cast<int>(requests.size()), std::chrono::seconds(240))) return out;
  for (size_t i = 0; i < requests.size(); ++i) out.push_back(c.get(static_cast<int>(i)));
  if (pool_problem) {
    QString why;
    if (!pool_whole(engine, why)) *pool_problem = why;
  }
  if (stats) *stats = engine.stats();
  return out;
}

// The reference: each request alone in a fresh engine (nothing cached), prefilled in one chunk.
std::vector<Collected> run_alone(const std::string& model, const std::vector<Request>& requests) {
  std::vector<Collected> out;
  for (const auto& r : requests) {
    auto one = run(model, cpu_options(1, 512, 512), {r}, false);
    if (one.size() != 1) return {};
    out.push_back(one[0]);
  }
  return out;
}

bool same_tokens(const std::vector<Collected>& a, const std::vector<Collected>& b, QString& why) {
  if (a.size() != b.size()) {
    why = QString("%1 results vs %2").arg(a.size()).arg(b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].finish_reason != b[i].finish_reason || a[i].tokens != b[i].tokens) {
      size_t k = 0;
      while (k < a[i].tokens.size() && k < b[i].tokens.size() && a[i].tokens[k] == b[i].tokens[k]) ++k;
      why = QString("request %1: finish %2 vs %3, %4 vs %5 tokens, first difference at %6")
                .arg(i).arg(QString::fromStdString(a[i].finish_reason)).arg(QString::fromStdString(b[i].finish_reason))
                .arg(a[i].tokens.size()).arg(b[i].tokens.size()).arg(k);
      return false;
    }
  }
  return true;
}

}  // namespace

class TestEngineModels : public QObject {
  Q_OBJECT

  QTemporaryDir scratch_;  // removed with the test object, whatever the outcome
  std::filesystem::path dir_;
  std::string synth_;

 private slots:
  void initTestCase() {
    dir_ = scratch_.path().toStdString();
    const auto* p = find_model_preset("tiny-qwen2.5");
    QVERIFY(p);
    kernels::cpu::ThreadPool pool(2);
    SynthOptions options;
    options.type = QuantTarget::kQ8_0;
    options.seed = 11;
    synth_ = (dir_ / "engine-tiny-qwen2.5.gguf").string();
    synth_model_file(synth_, *p, options, pool);
  }

  void batchInvariance_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("vocab");
    QTest::newRow("stories260K") << QString(kStoriesModel) << 512;
    QTest::newRow("tiny-qwen2.5") << QString::fromStdString(synth_) << 992;  // below the special tokens
  }
  void batchInvariance() {
    QFETCH(QString, model);
    QFETCH(int, vocab);
    const std::string path = model.toStdString();
    const uint64_t seed = std::random_device{}();
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    auto random_tokens = [&](int64_t n) {
      std::vector<TokenId> t;
      for (int64_t i = 0; i < n; ++i) t.push_back(std::uniform_int_distribution<TokenId>(3, vocab - 1)(rng));
      return t;
    };
    // Six prompts; four share a 40-token prefix (2.5 blocks of 16).
    const auto shared = random_tokens(40);
    std::vector<Request> requests;
    for (int i = 0; i < 6; ++i) {
      std::vector<TokenId> p = i < 4 ? shared : std::vector<TokenId>{1};
      const auto tail = random_tokens(std::uniform_int_distribution<int64_t>(1, 30)(rng));
      p.insert(p.end(), tail.begin(), tail.end());
      requests.push_back(greedy(p, std::uniform_int_distribution<int64_t>(8, 24)(rng)));
    }
    const auto reference = run_alone(path, requests);
    QCOMPARE(reference.size(), requests.size());
    QString why, pool;

    // All at once, one-shot prefill: batch invariance and shared-prefix == unshared.
    auto together = run(path, cpu_options(8, 512, 512), requests, true, &pool);
    QVERIFY2(same_tokens(together, reference, why), qPrintable("concurrent: " + why));
    QVERIFY2(pool.isEmpty(), qPrintable(pool));
    int64_t reused = 0;
    for (const auto& c : together) reused += c.usage.cached_tokens;
    std::printf("concurrent: %lld prompt tokens reused\n", static_cast<long long>(reused));

    // One after another in one engine: the shared prefix comes from the cache.
    auto sequential = run(path, cpu_options(8, 512, 512), requests, false, &pool);
    QVERIFY2(same_tokens(sequential, reference, why), qPrintable("sequential: " + why));
    for (size_t i = 1; i < 4; ++i) QVERIFY(sequential[i].usage.cached_tokens >= 32);

    // Chunked prefill (7 tokens per step, small budget).
    auto chunked = run(path, cpu_options(8, 20, 7), requests, true, &pool);
    QVERIFY2(same_tokens(chunked, reference, why), qPrintable("chunked: " + why));
    QVERIFY2(pool.isEmpty(), qPrintable(pool));

    // A pool of 8 blocks (128 positions) for six sequences of up to 95: preemption and recompute.
    EngineStats st;
    auto tight = run(path, cpu_options(6, 64, 16, 8), requests, true, &pool, &st);
    QVERIFY2(same_tokens(tight, reference, why), qPrintable("tight pool: " + why));
    std::printf("tight pool: %llu preemptions\n", static_cast<unsigned long long>(st.preemptions));
    QVERIFY(st.preemptions > 0);
    QVERIFY2(pool.isEmpty(), qPrintable(pool));
  }

  void matchesSingleSequenceGenerate() {
    // The engine and the legacy single-sequence path (Backend::forward) agree on stories260K.
    const GreedyResult legacy = greedy_generate(kStoriesModel, kStoriesPrompt, 40);
    Request r = greedy(legacy.prompt, 40);
    auto got = run(kStoriesModel, cpu_options(4, 512, 512), {r}, true);
    QCOMPARE(got.size(), size_t{1});
    QCOMPARE(got[0].tokens, legacy.tokens);
    QCOMPARE(got[0].text, legacy.text);
  }

  void cancelLeavesPoolWhole() {
    Engine engine(cpu_options(4, 32, 8));
    QVERIFY(load_and_wait(engine, kStoriesModel));
    Collector c;
    std::vector<uint64_t> ids;
    for (int i = 0; i < 4; ++i) {
      std::vector<TokenId> p(100 + 10 * i, 300 + i);
      p[0] = 1;
      Request r = greedy(p, 100);
      ids.push_back(engine.submit(r, c.sink(i)));
    }
    QVERIFY(c.wait_progress(3, 3));  // the last one decodes: others are mid-decode or done
    for (uint64_t id : ids) engine.cancel(id);
    QVERIFY(c.wait_finished(4));
    QString why;
    QVERIFY2(pool_whole(engine, why), qPrintable(why));
  }
};

QTEST_APPLESS_MAIN(TestEngineModels)
#include "test_engine_models.moc"
