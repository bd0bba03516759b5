// Engine + scheduler + paged KV bookkeeping against a model-free fake backend whose outputs
// depend on every KV slot read through the block tables (tests/core/engine/fake_backend.h).
// Expected tokens come from fake_greedy() on plain token lists: an independent reference.
#include <QTest>

#include <cmath>
#include <cstdio>
#include <random>
#include <future>
#include <thread>

#include "core/common/error.h"
#include "core/engine/energy_ledger.h"
#include "core/engine/engine.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/stop_matcher.h"
#include "core/kv/kv_store.h"
#include "core/model/loaded_model.h"
#include "tests/core/engine/engine_test_support.h"
#include "tests/core/engine/fake_backend.h"

using namespace hearth;
using namespace hearth::test;
using namespace std::chrono_literals;

namespace {

const std::string kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

struct FakeEngine {
  FakeEngine(FakeBackendConfig config, EngineOptions options = {}) : cfg(config) {
    options.backend_factory = [this](const LoadedModel&, const BackendOptions&) {
      auto b = std::make_unique<FakeBackend>(cfg);
      backend = b.get();
      return BackendChoice{std::move(b), "fake backend"};
    };
    engine = std::make_unique<Engine>(std::move(options));
    loaded = load_and_wait(*engine, kModel);
  }
  FakeBackendConfig cfg;
  FakeBackend* backend = nullptr;
  std::unique_ptr<Engine> engine;
  bool loaded = false;
};

Request greedy_request(std::vector<TokenId> prompt, int64_t max_tokens) {
  Request r;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

std::vector<TokenId> random_prompt(std::mt19937_64& rng, int64_t n) {
  std::vector<TokenId> p;
  for (int64_t i = 0; i < n; ++i) p.push_back(std::uniform_int_distribution<TokenId>(3, 511)(rng));
  return p;
}

// An in-memory KvStore that checks what the engine hands it.
class MemoryKvStore final : public KvStore {
 public:
  void save(const KvFingerprint& f, const std::string& group, std::span<const KvBlockRecord> blocks) override {
    std::lock_guard lock(m);
    for (const auto& b : blocks) {
      if (static_cast<int64_t>(b.data.size()) != f.geometry.block_bytes()) bad_saves++;
      records[b.chain_hash] = b;
      fingerprint = f;
    }
    if (!group.empty()) groups.push_back(group);
    saves += static_cast<int64_t>(blocks.size());
  }
  std::optional<KvBlockRecord> load(const KvFingerprint& f, uint64_t h) override {
    std::lock_guard lock(m);
    if (!(f == fingerprint) || !records.count(h)) return std::nullopt;
    ++loads;
    return records[h];
  }
  bool contains(const KvFingerprint& f, uint64_t h) override {
    std::lock_guard lock(m);
    return f == fingerprint && records.count(h) > 0;
  }
  std::mutex m;
  std::map<uint64_t, KvBlockRecord> records;
  KvFingerprint fingerprint;
  std::vector<std::string> groups;
  int64_t saves = 0, loads = 0, bad_saves = 0;
};

// [host5] A FakeBackend behind a wrapper that adds a device energy counter (microjoules, advanced
// by `joules_per_step` + `joules_per_token` per computed token in each forward pass) and counts
// the passes that asked for reduced rows (Backend::forward_batch_select, host default).
class MeteredFake final : public WrappedFake {
 public:
  MeteredFake(FakeBackendConfig c, bool has_counter, double joules_per_step, double joules_per_token)
      : WrappedFake(std::move(c)), has_counter_(has_counter), per_step_(joules_per_step), per_token_(joules_per_token) {}
  std::string device_name() const override { return "metered fake"; }
  void forward_batch(std::span<const SequenceSlice> seqs, std::vector<float>& logits) override {
    inner_.forward_batch(seqs, logits);
    int64_t tokens = 0;
    for (const auto& q : seqs) tokens += static_cast<int64_t>(q.tokens.size());
    micro_joules_ += std::llround(1e6 * (per_step_ + per_token_ * static_cast<double>(tokens)));
  }
  void forward_batch_select(std::span<const SequenceSlice> seqs, std::span<const int32_t> top_k, std::vector<float>& full,
                            std::vector<LogitCandidate>& top) override {
    ++select_passes_;
    Backend::forward_batch_select(seqs, top_k, full, top);
  }
  std::optional<double> energy_joules() const override {
    ++energy_reads_;
    if (!has_counter_) return std::nullopt;
    return static_cast<double>(micro_joules_.load()) * 1e-6;
  }
  double total_joules() const { return static_cast<double>(micro_joules_.load()) * 1e-6; }
  void add_idle_joules(double j) { micro_joules_ += std::llround(1e6 * j); }  // spent while nothing runs
  int64_t select_passes() const { return select_passes_; }
  int64_t energy_reads() const { return energy_reads_; }

 private:
  bool has_counter_;
  double per_step_, per_token_;
  std::atomic<int64_t> micro_joules_{0}, select_passes_{0};
  mutable std::atomic<int64_t> energy_reads_{0};
};

// An engine over a MeteredFake whose step clock advances `step_seconds` per forward pass.
struct MeteredEngine {
  MeteredEngine(EngineOptions options, bool has_counter, double per_step, double per_token, double step_seconds) {
    FakeBackendConfig cfg;
    cfg.n_blocks = 256;
    cfg.on_forward = [this, step_seconds](std::span<const SequenceSlice>) {
      clock_us += std::llround(step_seconds * 1e6);
    };
    options.step_clock = [this] { return static_cast<double>(clock_us.load()) * 1e-6; };
    options.backend_factory = [=, this](const LoadedModel&, const BackendOptions&) {
      auto b = std::make_unique<MeteredFake>(cfg, has_counter, per_step, per_token);
      backend = b.get();
      return BackendChoice{std::move(b), "metered fake backend"};
    };
    engine = std::make_unique<Engine>(std::move(options));
    loaded = load_and_wait(*engine, kModel);
  }
  std::atomic<int64_t> clock_us{0};
  MeteredFake* backend = nullptr;
  std::unique_ptr<Engine> engine;
  bool loaded = false;
};

// The tokens the fake computed for a request that ran without preemption: its prefilled prompt
// tokens and every generated token but the last (never fed back).
int64_t computed_tokens(const Collected& c) { return c.usage.prefilled_tokens + std::max<int64_t>(0, c.usage.completion_tokens - 1); }

// Sampled continuation of `prompt` through the fake's logits with a Sampler of `params`: the
// independent reference for sampled requests (the engine accepts the prompt into the sampler too).
std::vector<TokenId> fake_sampled(const std::vector<TokenId>& prompt, int64_t n, const SamplingParams& params) {
  Sampler sampler(params, 512);
  for (TokenId t : prompt) sampler.accept(t);
  std::vector<TokenId> all = prompt, out;
  std::vector<float> logits(512);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t h = 0;
    for (TokenId t : all) h = fake_hash_step(h, t);
    fake_logits(h, 512, 3, logits.data());
    const TokenId t = sampler.sample(logits);
    sampler.accept(t);
    out.push_back(t);
    all.push_back(t);
  }
  return out;
}

}  // namespace

class TestEngine : public QObject {
  Q_OBJECT

 private slots:
  void stopMatcherHoldsBackPartialMatches() {
    StopMatcher m({"\nUser:", "###"});
    QCOMPARE(m.push("Hello"), std::string("Hello"));
    QCOMPARE(m.push(" wor\nUs"), std::string(" wor"));  // "\nUs" might start a stop string
    QCOMPARE(m.push("e"), std::string(""));
    QCOMPARE(m.push("d #"), std::string("\nUsed "));    // not a stop after all; "#" is held
    QCOMPARE(m.push("#"), std::string(""));
    QCOMPARE(m.push("# tail"), std::string(""));        // "###" completes
    QVERIFY(m.matched());
    QCOMPARE(m.push("more"), std::string(""));
    QCOMPARE(m.flush(), std::string(""));
    StopMatcher n({"abc"});
    QCOMPARE(n.push("xxab"), std::string("xx"));
    QCOMPARE(n.flush(), std::string("ab"));
    QVERIFY(!n.matched());
  }

  void concurrentEqualsAloneAndReference() {
    std::mt19937_64 rng(fresh_seed("concurrentEqualsAloneAndReference"));
    EngineOptions o;
    o.max_running = 4;
    o.token_budget = 16;
    o.prefill_chunk = 5;  // forces chunked prefill
    // The first step waits until every request is submitted, so they share steps on any machine.
    std::promise<void> all_submitted;
    std::shared_future<void> gate = all_submitted.get_future().share();
    FakeBackendConfig cfg;
    cfg.before_step = [gate] { gate.wait(); };
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    const int n = 10;
    std::vector<Request> requests;
    for (int i = 0; i < n; ++i) {
      requests.push_back(greedy_request(random_prompt(rng, std::uniform_int_distribution<int64_t>(1, 40)(rng)),
                                        std::uniform_int_distribution<int64_t>(1, 30)(rng)));
    }
    Collector together;
    for (int i = 0; i < n; ++i) fe.engine->submit(requests[static_cast<size_t>(i)], together.sink(i));
    all_submitted.set_value();
    QVERIFY(together.wait_finished(n));
    Collector alone;
    for (int i = 0; i < n; ++i) {
      fe.engine->submit(requests[static_cast<size_t>(i)], alone.sink(i));
      QVERIFY(alone.wait_finished(i + 1));
    }
    for (int i = 0; i < n; ++i) {
      const auto& r = requests[static_cast<size_t>(i)];
      const auto expected = fake_greedy(r.prompt_tokens, r.max_tokens, 512, 3);
      const Collected a = together.get(i), b = alone.get(i);
      QCOMPARE(a.finish_reason, std::string("length"));
      QCOMPARE(a.tokens, expected);
      QCOMPARE(b.tokens, expected);
      QCOMPARE(a.text, b.text);
      QCOMPARE(a.usage.completion_tokens, r.max_tokens);
      QCOMPARE(a.usage.prompt_tokens, static_cast<int64_t>(r.prompt_tokens.size()));
      QCOMPARE(a.invalid_utf8_deltas, 0);  // byte tokens are joined into whole characters
    }
    QVERIFY2(fe.backend->max_batch_rows() > 1, "requests never shared a step");
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  // An idle engine waits briefly (EngineOptions::admit_window) for the rest of a burst: four
  // requests submitted back to back prefill in the same first step.
  void burstOfRequestsSharesTheFirstStep() {
    std::mt19937_64 rng(fresh_seed("burstOfRequestsSharesTheFirstStep"));
    EngineOptions o;
    o.max_running = 4;
    o.admit_window = std::chrono::milliseconds(50);  // generous: this machine may be busy
    auto first_slices = std::make_shared<std::atomic<int64_t>>(-1);
    FakeBackendConfig cfg;
    cfg.on_forward = [first_slices](std::span<const SequenceSlice> seqs) {
      int64_t none = -1;
      first_slices->compare_exchange_strong(none, static_cast<int64_t>(seqs.size()));
    };
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    Collector c;
    std::vector<Request> requests;
    for (int i = 0; i < 4; ++i) requests.push_back(greedy_request(random_prompt(rng, 30), 5));
    for (int i = 0; i < 4; ++i) fe.engine->submit(requests[static_cast<size_t>(i)], c.sink(i));
    QVERIFY(c.wait_finished(4));
    QCOMPARE(first_slices->load(), int64_t{4});
    for (int i = 0; i < 4; ++i) {
      QCOMPARE(c.get(i).tokens, fake_greedy(requests[static_cast<size_t>(i)].prompt_tokens, 5, 512, 3));
    }
  }

  void sharedPrefixIsReusedAndCopiedOnWrite() {
    std::mt19937_64 rng(fresh_seed("sharedPrefixIsReusedAndCopiedOnWrite"));
    FakeEngine fe({});
    QVERIFY(fe.loaded);
    const auto system = random_prompt(rng, 13);
    Collector c;
    std::vector<Request> requests;
    for (int i = 0; i < 5; ++i) {
      auto p = system;
      const auto tail = random_prompt(rng, std::uniform_int_distribution<int64_t>(1, 9)(rng));
      p.insert(p.end(), tail.begin(), tail.end());
      requests.push_back(greedy_request(p, 12));
    }
    // A prompt of whole blocks, twice: the second finds every block cached, recomputes only the
    // last token, and so must copy the shared last block before writing it.
    auto whole = system;
    whole.insert(whole.end(), {7, 8, 9});
    requests.push_back(greedy_request(whole, 12));
    requests.push_back(greedy_request(whole, 12));
    for (int i = 0; i < static_cast<int>(requests.size()); ++i) {
      fe.engine->submit(requests[static_cast<size_t>(i)], c.sink(i));
      QVERIFY(c.wait_finished(i + 1));
    }
    for (int i = 0; i < static_cast<int>(requests.size()); ++i) {
      const Collected got = c.get(i);
      QCOMPARE(got.tokens, fake_greedy(requests[static_cast<size_t>(i)].prompt_tokens, 12, 512, 3));
      if (i > 0) QVERIFY2(got.usage.cached_tokens >= 12, qPrintable(QString("request %1 reused %2 tokens").arg(i).arg(got.usage.cached_tokens)));
      QCOMPARE(got.usage.cached_tokens + got.usage.prefilled_tokens, got.usage.prompt_tokens);
    }
    const Collected again = c.get(6);
    QCOMPARE(again.usage.cached_tokens, int64_t{15});
    QVERIFY(fe.backend->copies() > 0);
    QVERIFY(fe.engine->stats().prefix_hit_rate > 0.3);
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  void preemptionKeepsOutputsExact() {
    std::mt19937_64 rng(fresh_seed("preemptionKeepsOutputsExact"));
    FakeBackendConfig cfg;
    cfg.n_blocks = 12;  // 48 token slots for 6 sequences of up to 36 tokens each
    cfg.context = 48;
    EngineOptions o;
    o.max_running = 6;
    o.token_budget = 32;
    o.prefill_chunk = 8;
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    std::vector<Request> requests;
    Collector c;
    int64_t minimum_work = 0;
    for (int i = 0; i < 6; ++i) {
      Request r = greedy_request(random_prompt(rng, std::uniform_int_distribution<int64_t>(6, 16)(rng)), 20);
      r.priority = i % 2 ? Priority::kBackground : Priority::kInteractive;
      minimum_work += static_cast<int64_t>(r.prompt_tokens.size()) + 19;
      requests.push_back(r);
    }
    for (int i = 0; i < 6; ++i) fe.engine->submit(requests[static_cast<size_t>(i)], c.sink(i));
    QVERIFY(c.wait_finished(6));
    for (int i = 0; i < 6; ++i) {
      const Collected got = c.get(i);
      QCOMPARE(got.finish_reason, std::string("length"));
      QCOMPARE(got.tokens, fake_greedy(requests[static_cast<size_t>(i)].prompt_tokens, 20, 512, 3));
    }
    std::printf("computed %lld tokens for %lld of work\n", static_cast<long long>(fe.backend->tokens_computed()),
                static_cast<long long>(minimum_work));
    QVERIFY2(fe.backend->tokens_computed() > minimum_work, "no sequence was preempted: the pool was not tight");
    QVERIFY(fe.engine->stats().preemptions > 0);
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  void randomizedChurnLeavesPoolWhole() {
    std::mt19937_64 rng(fresh_seed("randomizedChurnLeavesPoolWhole"));
    FakeBackendConfig cfg;
    cfg.n_blocks = 20;
    cfg.context = 64;
    EngineOptions o;
    o.max_running = 5;
    o.token_budget = 24;
    o.prefill_chunk = 6;
    o.max_queue = 1000;
    cfg.step_delay = 300us;  // slow enough that cancels land mid-flight
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    Collector c;
    std::vector<Request> requests;
    std::vector<uint64_t> ids;
    const auto shared = random_prompt(rng, 9);
    const int n = 60;
    for (int i = 0; i < n; ++i) {
      auto p = std::uniform_int_distribution<int>(0, 1)(rng) ? shared : std::vector<TokenId>{};
      const auto tail = random_prompt(rng, std::uniform_int_distribution<int64_t>(1, 20)(rng));
      p.insert(p.end(), tail.begin(), tail.end());
      Request r = greedy_request(p, std::uniform_int_distribution<int64_t>(1, 24)(rng));
      r.priority = std::uniform_int_distribution<int>(0, 1)(rng) ? Priority::kBackground : Priority::kInteractive;
      requests.push_back(r);
      ids.push_back(fe.engine->submit(r, c.sink(i)));
      if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
        fe.engine->cancel(ids[std::uniform_int_distribution<size_t>(0, ids.size() - 1)(rng)]);
      }
    }
    QVERIFY(c.wait_finished(n));
    int cancelled = 0;
    for (int i = 0; i < n; ++i) {
      const Collected got = c.get(i);
      const auto& r = requests[static_cast<size_t>(i)];
      const auto expected = fake_greedy(r.prompt_tokens, r.max_tokens, 512, 3);
      if (got.finish_reason == "cancelled") {
        ++cancelled;
        // Whatever came out before the cancel is a prefix of the right answer.
        QVERIFY(got.tokens.size() <= expected.size());
        QVERIFY(std::equal(got.tokens.begin(), got.tokens.end(), expected.begin()));
      } else {
        QCOMPARE(got.finish_reason, std::string("length"));
        QCOMPARE(got.tokens, expected);
      }
    }
    std::printf("%d of %d cancelled\n", cancelled, n);
    QVERIFY2(cancelled > 0, "no cancel landed: the test did not exercise cancellation");
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  void cancelMidPrefillAndMidDecode() {
    FakeBackendConfig cfg;
    cfg.step_delay = 2ms;
    EngineOptions o;
    o.prefill_chunk = 4;
    o.token_budget = 8;
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    std::mt19937_64 rng(7);
    Collector c;
    // Mid-prefill: 200 prompt tokens at 4 per step take ~100 ms.
    const uint64_t a = fe.engine->submit(greedy_request(random_prompt(rng, 200), 10), c.sink(0));
    QVERIFY(c.wait_progress(0, 0));
    std::this_thread::sleep_for(10ms);
    auto t0 = std::chrono::steady_clock::now();
    fe.engine->cancel(a);
    QVERIFY(c.wait_finished(1));
    Collected got = c.get(0);
    QCOMPARE(got.finish_reason, std::string("cancelled"));
    QCOMPARE(got.usage.completion_tokens, int64_t{0});
    QVERIFY2(got.usage.prefilled_tokens < 200, "the prefill finished before the cancel: not mid-prefill");
    double ms = std::chrono::duration<double, std::milli>(got.finished_at - t0).count();
    std::printf("cancel latency mid-prefill %.2f ms\n", ms);
    QVERIFY2(ms < 100, qPrintable(QString("cancel took %1 ms").arg(ms)));
    // Mid-decode.
    const uint64_t b = fe.engine->submit(greedy_request(random_prompt(rng, 5), 200), c.sink(1));
    QVERIFY(c.wait_progress(1, 5));
    t0 = std::chrono::steady_clock::now();
    fe.engine->cancel(b);
    QVERIFY(c.wait_finished(2));
    got = c.get(1);
    QCOMPARE(got.finish_reason, std::string("cancelled"));
    QVERIFY(got.usage.completion_tokens >= 5 && got.usage.completion_tokens < 200);
    ms = std::chrono::duration<double, std::milli>(got.finished_at - t0).count();
    std::printf("cancel latency mid-decode %.2f ms\n", ms);
    QVERIFY2(ms < 100, qPrintable(QString("cancel took %1 ms").arg(ms)));
    fe.engine->cancel(b);      // twice: harmless
    fe.engine->cancel(12345);  // unknown: harmless
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  void queueFullIsImmediate() {
    FakeBackendConfig cfg;
    cfg.step_delay = 5ms;
    EngineOptions o;
    o.max_running = 1;
    o.max_queue = 3;
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    std::mt19937_64 rng(3);
    Collector c;
    std::vector<uint64_t> ids;
    bool thrown = false;
    int submitted = 0;
    for (int i = 0; i < 6 && !thrown; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        ids.push_back(fe.engine->submit(greedy_request(random_prompt(rng, 4), 100), c.sink(i)));
        ++submitted;
      } catch (const QueueFullError& e) {
        thrown = true;
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::printf("QueueFullError after %d submits in %.3f ms: %s\n", i, ms, e.what());
        QVERIFY(ms < 50);
        QVERIFY(QString(e.what()).contains("3"));
      }
    }
    QVERIFY2(thrown, "no QueueFullError");
    QVERIFY(submitted >= 3 && submitted <= 4);
    for (uint64_t id : ids) fe.engine->cancel(id);
    QVERIFY(c.wait_finished(submitted));
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  void refusesWhatCanNeverFit() {
    FakeBackendConfig cfg;
    cfg.n_blocks = 8;  // 32 token slots < context 256
    FakeEngine fe(cfg);
    QVERIFY(fe.loaded);
    std::mt19937_64 rng(5);
    Collector c;
    try {
      fe.engine->submit(greedy_request(random_prompt(rng, 40), 5), c.sink(0));
      QFAIL("a 40-token prompt was accepted by a 32-token pool");
    } catch (const QueueFullError&) {
      QFAIL("wrong error type");
    } catch (const Error& e) {
      std::printf("refused: %s\n", e.what());
      QVERIFY(QString(e.what()).contains("40"));
      QVERIFY(QString(e.what()).contains("32"));
    }
    // truncate_middle instead: runs, says how much it dropped, stops at the pool's limit.
    Request r = greedy_request(random_prompt(rng, 40), 50);
    r.overflow = ContextOverflow::kTruncateMiddle;
    fe.engine->submit(r, c.sink(1));
    QVERIFY(c.wait_finished(1));
    const Collected got = c.get(1);
    QCOMPARE(got.finish_reason, std::string("context"));
    QVERIFY(got.usage.truncated_tokens > 0);
    QCOMPARE(got.usage.prompt_tokens + got.usage.truncated_tokens, int64_t{40});
    QCOMPARE(got.usage.prompt_tokens + got.usage.completion_tokens, int64_t{32});
    // The kept prompt is the head and the tail of the original.
    std::vector<TokenId> kept(r.prompt_tokens.begin(), r.prompt_tokens.begin() + 8);
    kept.insert(kept.end(), r.prompt_tokens.end() - (got.usage.prompt_tokens - 8), r.prompt_tokens.end());
    QCOMPARE(got.tokens, fake_greedy(kept, got.usage.completion_tokens, 512, 3));
    // No model: refused too.
    Engine empty(EngineOptions{});
    QVERIFY_THROWS_EXCEPTION(Error, empty.submit(greedy_request({5, 6}, 1), c.sink(2)));
  }

  void truncateMiddleKeepsSystemPromptAndLatestTurns() {
    auto model = LoadedModel::open(kModel);
    PromptRenderer renderer(*model);
    Request r;
    r.messages = {{"system", "Lily was a cat."}, {"user", "Tom had a big red ball and played all day."},
                  {"assistant", "The sun was hot and the sky was blue."}, {"user", "Where did the dog go?"}};
    r.max_tokens = 8;
    const BuiltPrompt full = build_prompt(*model, renderer, r, 100000, "test");
    QCOMPARE(full.truncated_tokens, int64_t{0});
    const auto n = static_cast<int64_t>(full.tokens.size());
    r.overflow = ContextOverflow::kTruncateMiddle;
    const BuiltPrompt cut = build_prompt(*model, renderer, r, n - 5, "test");
    QVERIFY(cut.truncated_tokens > 0);
    QVERIFY(static_cast<int64_t>(cut.tokens.size()) <= n - 5 - 1);
    const std::string text = model->tokenizer().decode(cut.tokens);
    std::printf("truncated prompt: %s\n", text.c_str());
    QVERIFY(text.find("Lily was a cat.") != std::string::npos);
    QVERIFY(text.find("Where did the dog go?") != std::string::npos);
    QVERIFY(text.find("big red ball") == std::string::npos);
    r.overflow = ContextOverflow::kError;
    QVERIFY_THROWS_EXCEPTION(Error, build_prompt(*model, renderer, r, n - 5, "test"));
  }

  void stopStringAcrossTokenBoundary() {
    std::mt19937_64 rng(fresh_seed("stopStringAcrossTokenBoundary"));
    FakeBackendConfig cfg;
    cfg.first_allowed = 259;  // no byte tokens (<0x00>..<0xFF>): whole-text pieces
    FakeEngine fe(cfg);
    QVERIFY(fe.loaded);
    auto model = LoadedModel::open(kModel);
    const Tokenizer& tok = model->tokenizer();
    // Find a prompt whose greedy continuation has two adjacent tokens with multi-byte-free pieces
    // of at least 2 bytes each.
    for (int attempt = 0; attempt < 50; ++attempt) {
      const Request r = greedy_request(random_prompt(rng, 6), 24);
      const auto expected = fake_greedy(r.prompt_tokens, 24, 512, 259);
      std::string full;
      std::vector<size_t> piece_end;
      for (TokenId t : expected) {
        full += tok.token_to_piece(t);
        piece_end.push_back(full.size());
      }
      bool ascii = true;
      for (unsigned char ch : full) ascii = ascii && ch < 0x80;
      if (!ascii) continue;
      for (size_t k = 2; k + 1 < expected.size(); ++k) {
        // 3 bytes around the end of piece k; its first occurrence must straddle a token boundary.
        const size_t boundary = piece_end[k];
        if (boundary < 1 || boundary + 2 > full.size()) continue;
        const std::string stop = full.substr(boundary - 1, 3);
        const size_t first = full.find(stop);
        bool straddles = false;
        for (size_t e : piece_end) straddles = straddles || (e > first && e < first + stop.size());
        if (!straddles) continue;
        Collector c;
        Request rs = r;
        rs.stop_strings = {"never-appears", stop};
        fe.engine->submit(rs, c.sink(0));
        QVERIFY(c.wait_finished(1));
        const Collected got = c.get(0);
        std::printf("stop \"%s\": \"%s\"\n", stop.c_str(), got.text.c_str());
        QCOMPARE(got.finish_reason, std::string("stop"));
        QCOMPARE(got.text, full.substr(0, first));
        return;
      }
    }
    QFAIL("no suitable continuation found");
  }

  void stopTokenEndsWithoutEmittingIt() {
    FakeEngine fe({});
    QVERIFY(fe.loaded);
    const std::vector<TokenId> prompt = {10, 20, 30};
    const auto expected = fake_greedy(prompt, 12, 512, 3);
    Collector c;
    Request r = greedy_request(prompt, 12);
    r.stop_tokens = {expected[5]};
    fe.engine->submit(r, c.sink(0));
    QVERIFY(c.wait_finished(1));
    const Collected got = c.get(0);
    QCOMPARE(got.finish_reason, std::string("stop"));
    const auto first = std::find(expected.begin(), expected.end(), expected[5]) - expected.begin();
    QCOMPARE(got.tokens, std::vector<TokenId>(expected.begin(), expected.begin() + first));
    QCOMPARE(got.usage.completion_tokens, static_cast<int64_t>(first));
  }

  void logprobsMatchLogSoftmax() {
    FakeEngine fe({});
    QVERIFY(fe.loaded);
    Collector c;
    Request r = greedy_request({10, 20, 30}, 4);
    r.top_logprobs = 3;
    fe.engine->submit(r, c.sink(0));
    QVERIFY(c.wait_finished(1));
    const Collected got = c.get(0);
    QCOMPARE(got.logprobs.size(), size_t{4});
    std::vector<TokenId> history = r.prompt_tokens;
    std::vector<float> logits(512);
    for (size_t i = 0; i < got.logprobs.size(); ++i) {
      uint64_t h = 0;
      for (TokenId t : history) h = fake_hash_step(h, t);
      fake_logits(h, 512, 3, logits.data());
      double z = 0;
      for (float v : logits) z += std::exp(static_cast<double>(v));
      const TokenLogprob& lp = got.logprobs[i];
      QCOMPARE(lp.token, got.tokens[i]);
      QVERIFY(std::abs(lp.logprob - (logits[static_cast<size_t>(lp.token)] - std::log(z))) < 1e-4);
      QCOMPARE(lp.top.size(), size_t{3});
      QCOMPARE(lp.top[0].first, lp.token);  // greedy: the best is the chosen one
      QVERIFY(lp.top[0].second >= lp.top[1].second && lp.top[1].second >= lp.top[2].second);
      history.push_back(lp.token);
    }
  }

  void seededSamplingIsReproducible() {
    FakeEngine fe({});
    QVERIFY(fe.loaded);
    Collector c;
    Request r = greedy_request({10, 20, 30}, 16);
    r.sampling.temperature = 1.0f;
    r.sampling.seed = 42;
    fe.engine->submit(r, c.sink(0));
    fe.engine->submit(r, c.sink(1));
    r.sampling.seed = 43;
    fe.engine->submit(r, c.sink(2));
    QVERIFY(c.wait_finished(3));
    QCOMPARE(c.get(0).tokens, c.get(1).tokens);
    QVERIFY(c.get(0).tokens != c.get(2).tokens);
  }

  // A constraint that allows exactly one scripted token sequence, then ends the output.
  void constraintMasksAndCompletes() {
    class Script final : public TokenConstraint {
     public:
      explicit Script(std::vector<TokenId> s) : script_(std::move(s)) {}
      void mask(std::span<float> logits) override {
        for (size_t i = 0; i < logits.size(); ++i) {
          if (static_cast<TokenId>(i) != script_[at_]) logits[i] = -INFINITY;
        }
      }
      void accept(TokenId t) override {
        if (t != script_[at_]) throw Error("constraint broken");
        ++at_;
      }
      bool complete() const override { return at_ == script_.size(); }

     private:
      std::vector<TokenId> script_;
      size_t at_ = 0;
    };
    class Nothing final : public TokenConstraint {
     public:
      void mask(std::span<float> logits) override { std::fill(logits.begin(), logits.end(), -INFINITY); }
      void accept(TokenId) override {}
      bool complete() const override { return false; }
    };
    FakeEngine fe({});
    QVERIFY(fe.loaded);
    Collector c;
    const std::vector<TokenId> script = {300, 17, 42, 99};
    for (int i = 0; i < 2; ++i) {
      Request r = greedy_request({10, 20, 30}, 16);
      if (i == 1) r.sampling.temperature = 1.5f;  // sampling too draws only allowed tokens
      r.sampling.seed = 7;
      r.constraint = [&](const Tokenizer&) { return std::make_unique<Script>(script); };
      fe.engine->submit(r, c.sink(i));
    }
    Request r = greedy_request({10, 20, 30}, 16);
    r.constraint = [](const Tokenizer&) { return std::make_unique<Nothing>(); };
    fe.engine->submit(r, c.sink(2));
    QVERIFY(c.wait_finished(3));
    for (int i = 0; i < 2; ++i) {
      QCOMPARE(c.get(i).tokens, script);
      QCOMPARE(c.get(i).finish_reason, std::string("stop"));
    }
    QCOMPARE(c.get(2).finish_reason, std::string("error"));
    QVERIFY(c.get(2).tokens.empty());
    QString why;
    QVERIFY2(pool_whole(*fe.engine, why), qPrintable(why));
  }

  void kvStoreSavesEvictedBlocksAndRestoresThem() {
    std::mt19937_64 rng(fresh_seed("kvStoreSavesEvictedBlocksAndRestoresThem"));
    MemoryKvStore store;
    FakeBackendConfig cfg;
    cfg.n_blocks = 10;
    cfg.context = 40;
    EngineOptions o;
    o.kv_store = &store;
    FakeEngine fe(cfg, o);
    QVERIFY(fe.loaded);
    Collector c;
    const auto prompt = random_prompt(rng, 17);  // 4 full blocks
    Request first = greedy_request(prompt, 6);
    first.cache_group = "conversation-1";
    fe.engine->submit(first, c.sink(0));
    QVERIFY(c.wait_finished(1));
    QCOMPARE(store.groups.size(), size_t{1});  // saved on finish because of the cache group
    // Other prompts push every cached block of the first one out of the 10-block pool.
    for (int i = 1; i <= 3; ++i) {
      fe.engine->submit(greedy_request(random_prompt(rng, 30), 6), c.sink(i));
      QVERIFY(c.wait_finished(i + 1));
    }
    QVERIFY(store.saves > 0);
    QCOMPARE(store.bad_saves, int64_t{0});
    fe.engine->submit(greedy_request(prompt, 6), c.sink(4));
    QVERIFY(c.wait_finished(5));
    const Collected again = c.get(4);
    std::printf("restored %lld, cached %lld\n", static_cast<long long>(again.usage.restored_tokens),
                static_cast<long long>(again.usage.cached_tokens));
    QCOMPARE(again.usage.restored_tokens + again.usage.cached_tokens, int64_t{16});
    QVERIFY(again.usage.restored_tokens > 0);
    QCOMPARE(again.tokens, fake_greedy(prompt, 6, 512, 3));  // restored bytes are the right KV
    QCOMPARE(again.tokens, c.get(0).tokens);
  }

  void modelSwitchCancelsInFlight() {
    FakeBackendConfig cfg;
    cfg.step_delay = 2ms;
    FakeEngine fe(cfg);
    QVERIFY(fe.loaded);
    Collector c;
    fe.engine->submit(greedy_request({10, 20, 30}, 200), c.sink(0));
    QVERIFY(c.wait_progress(0, 2));
    std::vector<ModelEvent::Kind> kinds;
    std::mutex m;
    QVERIFY(load_and_wait(*fe.engine, kModel));
    QVERIFY(c.wait_finished(1));
    QCOMPARE(c.get(0).finish_reason, std::string("cancelled"));
    fe.engine->submit(greedy_request({10, 20, 30}, 3), c.sink(1));
    QVERIFY(c.wait_finished(2));
    QCOMPARE(c.get(1).tokens, fake_greedy({10, 20, 30}, 3, 512, 3));
    auto unloaded = std::make_shared<std::promise<void>>();
    fe.engine->unload_model([&](const ModelEvent& e) {
      std::lock_guard lock(m);
      kinds.push_back(e.kind);
      if (e.kind == ModelEvent::Kind::kUnloaded) unloaded->set_value();
    });
    unloaded->get_future().wait();
    QVERIFY_THROWS_EXCEPTION(Error, fe.engine->submit(greedy_request({10}, 1), c.sink(2)));
    // A file that is not a model: a kFailed event, not a crash.
    auto failed = std::make_shared<std::promise<ModelEvent>>();
    fe.engine->load_model("/nonexistent.gguf", [failed](const ModelEvent& e) {
      if (e.kind == ModelEvent::Kind::kFailed) failed->set_value(e);
    });
    const ModelEvent e = failed->get_future().get();
    QVERIFY(!e.message.empty());
  }

  // [host5] Greedy and top-k rows come reduced to their best entries (forward_batch_select) and
  // give exactly the tokens of the whole-row path: the same requests with logprobs (whole rows)
  // and an independent host reference (a Sampler over the fake's logits).
  void reducedRowsSampleLikeWholeRows() {
    std::mt19937_64 rng(fresh_seed("reducedRowsSampleLikeWholeRows"));
    EngineOptions o;
    o.max_running = 4;
    MeteredEngine me(o, false, 0, 0, 0.001);
    QVERIFY(me.loaded);
    std::vector<Request> requests;
    for (int i = 0; i < 6; ++i) {
      Request r = greedy_request(random_prompt(rng, std::uniform_int_distribution<int64_t>(1, 30)(rng)), 12);
      if (i % 3 != 0) {
        r.sampling.temperature = std::uniform_real_distribution<float>(0.3f, 1.5f)(rng);
        r.sampling.top_k = std::uniform_int_distribution<int32_t>(1, 64)(rng);
        r.sampling.top_p = i % 2 == 0 ? 0.9f : 1.0f;
        r.sampling.min_p = i % 2 == 0 ? 0.0f : 0.05f;
        r.sampling.seed = rng();
      }
      requests.push_back(r);
    }
    Collector reduced, whole;
    for (int i = 0; i < 6; ++i) me.engine->submit(requests[static_cast<size_t>(i)], reduced.sink(i));
    QVERIFY(reduced.wait_finished(6));
    QVERIFY(me.backend->select_passes() > 0);
    const int64_t select_passes = me.backend->select_passes();
    for (int i = 0; i < 6; ++i) {
      Request r = requests[static_cast<size_t>(i)];
      r.top_logprobs = 0;  // logprobs need whole rows
      me.engine->submit(r, whole.sink(i));
    }
    QVERIFY(whole.wait_finished(6));
    QCOMPARE(me.backend->select_passes(), select_passes);
    for (int i = 0; i < 6; ++i) {
      const Request& r = requests[static_cast<size_t>(i)];
      const auto expected = r.sampling.temperature <= 0 ? fake_greedy(r.prompt_tokens, 12, 512, 3)
                                                         : fake_sampled(r.prompt_tokens, 12, r.sampling);
      QCOMPARE(reduced.get(i).tokens, expected);
      QCOMPARE(whole.get(i).tokens, expected);
      QCOMPARE(reduced.get(i).timings.energy_joules, 0.0);  // no counter on this backend
    }
  }

  // [host5] Issue 9: with energy exactly proportional to the tokens computed, each request's
  // joules are exactly its tokens times the rate, whether it finishes between counter readings
  // (1 ms steps: charged at the last interval's rate) or at one (30 ms steps: a fresh reading).
  void energyIsSharedByTokensComputed() {
    for (const double step_seconds : {0.001, 0.03}) {
      std::mt19937_64 rng(fresh_seed("energyIsSharedByTokensComputed"));
      EngineOptions o;
      o.max_running = 4;
      o.token_budget = 24;
      o.prefill_chunk = 8;
      MeteredEngine me(o, true, 0.0, 0.25, step_seconds);
      QVERIFY(me.loaded);
      const int n = 7;
      Collector c;
      for (int i = 0; i < n; ++i) {
        me.engine->submit(greedy_request(random_prompt(rng, std::uniform_int_distribution<int64_t>(1, 40)(rng)),
                                         std::uniform_int_distribution<int64_t>(1, 60)(rng)),
                          c.sink(i));
      }
      QVERIFY(c.wait_finished(n));
      double sum = 0;
      for (int i = 0; i < n; ++i) {
        const Collected got = c.get(i);
        QCOMPARE(got.finish_reason, std::string("length"));
        const double expected = 0.25 * static_cast<double>(computed_tokens(got));
        QVERIFY2(std::abs(got.timings.energy_joules - expected) <= 1e-6 * std::max(1.0, expected),
                 qPrintable(QString("step %1 s, request %2: %3 J, expected %4 J (%5 tokens)")
                                .arg(step_seconds).arg(i).arg(got.timings.energy_joules).arg(expected).arg(computed_tokens(got))));
        sum += got.timings.energy_joules;
      }
      QVERIFY(std::abs(sum - me.backend->total_joules()) <= 1e-6 * me.backend->total_joules());
      // The counter is read about every 75 ms of steps (or at a finish), not every step.
      const EngineStats st = me.engine->stats();
      if (step_seconds < 0.01) {
        QVERIFY2(me.backend->energy_reads() < static_cast<int64_t>(st.steps) / 4,
                 qPrintable(QString("%1 reads over %2 steps").arg(me.backend->energy_reads()).arg(st.steps)));
      }
    }
  }

  // [host5] Energy not proportional to tokens (a fixed cost per pass): every joule the device
  // spent while requests ran is charged to exactly one of them (readings at each finish), none
  // of the idle time between requests, and a backend without a counter reports 0.
  void energyIsConservedAndIdleIsFree() {
    std::mt19937_64 rng(fresh_seed("energyIsConservedAndIdleIsFree"));
    EngineOptions o;
    o.max_running = 3;
    o.token_budget = 16;
    o.prefill_chunk = 6;
    MeteredEngine me(o, true, 0.7, 0.01, 0.03);
    QVERIFY(me.loaded);
    Collector c;
    for (int i = 0; i < 5; ++i) {
      me.engine->submit(greedy_request(random_prompt(rng, std::uniform_int_distribution<int64_t>(1, 30)(rng)),
                                       std::uniform_int_distribution<int64_t>(1, 40)(rng)),
                        c.sink(i));
    }
    QVERIFY(c.wait_finished(5));
    double sum = 0;
    for (int i = 0; i < 5; ++i) {
      QVERIFY(c.get(i).timings.energy_joules > 0);
      sum += c.get(i).timings.energy_joules;
    }
    QVERIFY2(std::abs(sum - me.backend->total_joules()) <= 1e-6 * me.backend->total_joules(),
             qPrintable(QString("requests %1 J, device %2 J").arg(sum).arg(me.backend->total_joules())));
    // A request alone after an idle gap is charged only its own passes.
    std::this_thread::sleep_for(20ms);
    me.backend->add_idle_joules(50.0);
    const double before = me.backend->total_joules();
    me.engine->submit(greedy_request({10, 20, 30}, 5), c.sink(5));
    QVERIFY(c.wait_finished(6));
    QVERIFY(std::abs(c.get(5).timings.energy_joules - (me.backend->total_joules() - before)) < 1e-6);

    MeteredEngine none(o, false, 0.7, 0.01, 0.03);
    QVERIFY(none.loaded);
    Collector d;
    none.engine->submit(greedy_request({10, 20, 30}, 5), d.sink(0));
    QVERIFY(d.wait_finished(1));
    QCOMPARE(d.get(0).timings.energy_joules, 0.0);
    QCOMPARE(d.get(0).tokens, fake_greedy({10, 20, 30}, 5, 512, 3));
  }

  // [host5] The ledger alone, by hand: readings only after the interval (or at a finish once
  // min_interval passed), shares by tokens, estimates at the last rate taken out of the next
  // reading, idle energy charged to nobody, no counter -> nullopt.
  void energyLedgerByHand() {
    double counter = 100.0;
    int reads = 0;
    const EnergyLedger::Reader read = [&]() -> std::optional<double> {
      ++reads;
      return counter;
    };
    EnergyLedger ledger(0.075, 0.02);
    ledger.begin_step(0.000, read);  // base 100 J
    QCOMPARE(reads, 1);
    ledger.add_tokens(1, 30);
    ledger.add_tokens(2, 10);
    counter += 8.0;
    ledger.end_step(0.050, read);  // interval not over: no reading
    QCOMPARE(reads, 1);
    ledger.add_tokens(1, 2);
    ledger.add_tokens(2, 2);
    counter += 2.0;  // 10 J over 44 tokens
    ledger.end_step(0.080, read);
    QCOMPARE(reads, 2);
    // Request 2 finishes 5 ms after that reading with 5 unread tokens: charged at 10/44 J each.
    ledger.add_tokens(1, 5);
    ledger.add_tokens(2, 5);
    counter += 3.0;
    const auto two = ledger.settle(2, 0.085, read);
    QCOMPARE(reads, 2);
    QVERIFY(two && std::abs(*two - (10.0 * 12 / 44 + 5 * 10.0 / 44)) < 1e-12);
    // The next reading gives request 1 what is left of the 3 J.
    counter += 1.0;
    ledger.end_step(0.200, read);
    QCOMPARE(reads, 3);
    const auto one = ledger.settle(1, 0.200, read);
    QVERIFY(one && std::abs(*one - (10.0 * 32 / 44 + (4.0 - 5 * 10.0 / 44))) < 1e-12);
    QVERIFY(std::abs(*one + *two - 14.0) < 1e-12);  // every joule once
    // Idle: 50 J while nothing runs are nobody's.
    ledger.idle(0.2, read);
    counter += 50.0;
    ledger.begin_step(5.0, read);
    ledger.add_tokens(3, 4);
    counter += 2.0;
    const auto three = ledger.settle(3, 5.03, read);
    QVERIFY(three && std::abs(*three - 2.0) < 1e-12);
    // No counter: nothing measured, and it stops asking.
    int none_reads = 0;
    const EnergyLedger::Reader none = [&]() -> std::optional<double> {
      ++none_reads;
      return std::nullopt;
    };
    EnergyLedger off;
    off.begin_step(0, none);
    off.add_tokens(1, 10);
    off.end_step(1.0, none);
    off.begin_step(1.0, none);
    QVERIFY(!off.settle(1, 2.0, none).has_value());
    QCOMPARE(none_reads, 1);
    QVERIFY(!off.measuring());

    // A counter that has not moved since the interval opened is no news: the interval stays open
    // and a finishing request is charged at the last rate (none yet: nothing).
    double coarse = 7.0;
    const EnergyLedger::Reader coarse_read = [&]() -> std::optional<double> { return coarse; };
    EnergyLedger steps;
    steps.begin_step(0.0, coarse_read);
    steps.add_tokens(1, 10);
    steps.add_tokens(2, 10);
    steps.end_step(0.1, coarse_read);  // unchanged: still open
    const auto first = steps.settle(1, 0.15, coarse_read);
    QVERIFY(first && *first == 0.0);
    coarse += 4.0;
    steps.end_step(0.3, coarse_read);  // 4 J: all to request 2 (request 1 left unmeasured)
    const auto second = steps.settle(2, 0.3, coarse_read);
    QVERIFY(second && std::abs(*second - 4.0) < 1e-12);
  }

  // [host5] A slow counter (NVML's read took ~3 ms on an H200) is read by a helper thread; the
  // engine thread then gets the latest value without waiting. A quick one is read directly.
  void energyCounterPollsWhenSlow() {
    std::atomic<int> reads{0};
    EnergyCounter quick([&]() -> std::optional<double> { return static_cast<double>(++reads); });
    QCOMPARE(*quick(), 1.0);
    QCOMPARE(*quick(), 2.0);
    QVERIFY(!quick.polling());
    std::atomic<int> slow_reads{0};
    {
      EnergyCounter slow(
          [&]() -> std::optional<double> {
            std::this_thread::sleep_for(2ms);
            return static_cast<double>(++slow_reads);
          },
          std::chrono::microseconds(500), std::chrono::milliseconds(5));
      QCOMPARE(*slow(), 1.0);
      QVERIFY(slow.polling());
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < 100; ++i) QVERIFY(slow().has_value());
      QVERIFY(std::chrono::steady_clock::now() - t0 < 100ms);  // no read waits for the counter
      for (int i = 0; i < 200 && *slow() < 3.0; ++i) std::this_thread::sleep_for(5ms);
      QVERIFY(*slow() >= 3.0);  // the helper keeps reading
    }  // joins the helper
    const int after = slow_reads.load();
    std::this_thread::sleep_for(20ms);
    QCOMPARE(slow_reads.load(), after);
  }

  // [host5] A request whose prompt is all but cached starts without the admit window (a warm
  // shared prefix's time to first token is a few milliseconds); a cold one still waits for a burst.
  void warmPrefixSkipsTheAdmitWindow() {
    std::mt19937_64 rng(fresh_seed("warmPrefixSkipsTheAdmitWindow"));
    EngineOptions o;
    o.max_running = 4;
    o.admit_window = std::chrono::milliseconds(300);
    FakeEngine fe({}, o);
    QVERIFY(fe.loaded);
    std::this_thread::sleep_for(50ms);  // the engine thread is idle again after the load
    Collector c;
    std::vector<TokenId> prompt = random_prompt(rng, 40);
    fe.engine->submit(greedy_request(prompt, 3), c.sink(0));
    QVERIFY(c.wait_finished(1));
    QVERIFY2(c.get(0).timings.queue_ms >= 250, qPrintable(QString("cold queue %1 ms").arg(c.get(0).timings.queue_ms)));
    prompt.resize(36);  // 9 cached blocks of 4
    for (int i = 0; i < 5; ++i) prompt.push_back(std::uniform_int_distribution<TokenId>(3, 511)(rng));
    fe.engine->submit(greedy_request(prompt, 3), c.sink(1));
    QVERIFY(c.wait_finished(2));
    QCOMPARE(c.get(1).usage.cached_tokens, int64_t{36});
    QVERIFY2(c.get(1).timings.queue_ms < 150, qPrintable(QString("warm queue %1 ms").arg(c.get(1).timings.queue_ms)));
    QCOMPARE(c.get(1).tokens, fake_greedy(prompt, 3, 512, 3));
  }
};

QTEST_APPLESS_MAIN(TestEngine)
#include "test_engine.moc"
