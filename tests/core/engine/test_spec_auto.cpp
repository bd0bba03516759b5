// `auto` speculation through the whole Engine, on a fake clock: the fake backend advances the
// clock by a cost model of each step (verify cost flat in the rows, as the CUDA matvec that reads
// the weights once for up to 64 rows; linear in the rows, as the CPU and the old CUDA matvec),
// and a draft "model" whose greedy choice agrees with the target's with a known per-token
// probability (0, 0.5, 0.9). For every case:
//   - greedy output with `auto` is identical to plain decode and to fake_greedy();
//   - `auto` decode throughput >= 0.98x plain decode (over a 128-token run: exploring included);
//   - where speculation pays, `auto` reaches >= 0.82x the best fixed draft length at one stream
//     and >= 0.75x at more (a Monte Carlo of the fixed policy over the same cost model: an independent
//     oracle; the gap is the cost of learning costs and acceptance within 128 tokens), and it
//     drafts from early on (its first verify step within the first 12 decode steps).
#include <QTest>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <random>
#include <string>

#include <spdlog/spdlog.h>

#include "core/engine/engine.h"
#include "core/model/loaded_model.h"
#include "tests/core/engine/engine_test_support.h"
#include "tests/core/engine/fake_backend.h"

using namespace hearth;
using namespace hearth::test;

namespace {

const std::string kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";
constexpr int64_t kVocab = 512;
constexpr int32_t kFirstAllowed = 3;
constexpr int32_t kMaxDraft = 8;
constexpr int64_t kGenTokens = 128;

// Step-time models in milliseconds of a decode step of b streams with e extra (draft) rows.
enum class CostShape { kFlat, kLinear, kOldCuda };

double decode_ms(CostShape shape, int64_t b, int64_t e) {
  const auto r = static_cast<double>(b + e);
  switch (shape) {
    case CostShape::kFlat: return 1.0 + 0.01 * r;                          // weights read once for every row
    case CostShape::kLinear: return 0.1 + 1.0 * r;                         // every row a decode row
    case CostShape::kOldCuda: return e == 0 ? 1.0 + 0.05 * r : 1.2 + 0.3 * r;  // graph only for plain steps
  }
  return 1.0;
}
constexpr double kDraftPassMs = 0.03;  // one batched pass of the draft model (cheap drafter)

const char* shape_name(CostShape s) {
  return s == CostShape::kFlat ? "flat" : s == CostShape::kLinear ? "linear" : "old-cuda";
}

// The draft: the target's logits, except that at a pseudo-random share 1 - a of the positions
// (a fixed function of the row, so of the history) the best token is pushed down, so the draft's
// greedy choice is then wrong. Per-token acceptance of greedy drafts is therefore a, independent
// across positions. Every pass advances the fake clock by kDraftPassMs.
class ControlledDraft final : public WrappedFake {
 public:
  ControlledDraft(FakeBackendConfig c, double accept, std::shared_ptr<std::atomic<int64_t>> clock)
      : WrappedFake(std::move(c)), accept_(accept), clock_(std::move(clock)) {}
  std::string device_name() const override { return "controlled draft"; }
  void forward_batch(std::span<const SequenceSlice> seqs, std::vector<float>& logits) override {
    clock_->fetch_add(static_cast<int64_t>(kDraftPassMs * 1e6));
    inner_.forward_batch(seqs, logits);
    const auto n = static_cast<size_t>(inner_.n_vocab());
    for (size_t row = 0; row * n < logits.size(); ++row) {
      float* r = logits.data() + row * n;
      uint64_t h = 0x5bd1e995ull;
      for (size_t v = kFirstAllowed; v < kFirstAllowed + 4; ++v) {
        uint32_t bits = 0;
        std::memcpy(&bits, &r[v], 4);
        h = mix64(h ^ bits);
      }
      if (static_cast<double>(h % 1000000) < accept_ * 1e6) continue;
      *std::max_element(r, r + n) = -100.0f;  // the draft now prefers another token
    }
  }

 private:
  double accept_;
  std::shared_ptr<std::atomic<int64_t>> clock_;
};

struct RunResult {
  double decode_ms = 0;  // target decode steps + draft passes
  int64_t decode_steps = 0, verify_steps = 0, first_verify_step = -1;
  int64_t drafted = 0, accepted = 0;
  std::vector<std::vector<TokenId>> tokens;
};

// The oracle: the best fixed draft length k (0 = plain) for every stream, by Monte Carlo over the
// same cost model: b streams of kGenTokens tokens (the first comes from the prompt step), each
// step every unfinished stream drafts min(k, what it still needs - 1) tokens accepted with
// probability a each, the step costs decode_ms(streams left, drafts) + k draft passes. Returns
// the expected decode time (ms) of the best k; the makespan counts, as in the engine runs (the
// streams that were unlucky finish last, in steps with fewer streams).
double best_fixed_ms(CostShape shape, int64_t b, double a, int& best_k) {
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double best = 0;
  for (int k = 0; k <= kMaxDraft; ++k) {
    const int trials = k == 0 ? 1 : 400;
    double total = 0;
    for (int t = 0; t < trials; ++t) {
      std::vector<int64_t> left(static_cast<size_t>(b), kGenTokens - 1);
      int64_t active = b;
      while (active > 0) {
        int64_t drafts = 0;
        int32_t passes = 0;
        for (auto& l : left) {
          if (l <= 0) continue;
          const int64_t d = std::min<int64_t>(k, l - 1);
          drafts += d;
          passes = std::max(passes, static_cast<int32_t>(d));
          int64_t got = 1;
          for (int64_t j = 0; j < d && u(rng) < a; ++j) ++got;
          l -= got;
        }
        total += decode_ms(shape, active, drafts) + passes * kDraftPassMs;
        active = std::count_if(left.begin(), left.end(), [](int64_t l) { return l > 0; });
      }
    }
    const double ms = total / trials;
    if (best == 0 || ms < best) {
      best = ms;
      best_k = k;
    }
  }
  return best;
}

RunResult run_engine(CostShape shape, double accept, const std::vector<std::vector<TokenId>>& prompts, SpecMode mode) {
  RunResult out;
  const auto streams = static_cast<int64_t>(prompts.size());
  auto clock = std::make_shared<std::atomic<int64_t>>(0);  // fake nanoseconds
  auto decode_ns = std::make_shared<std::atomic<int64_t>>(0);
  auto prefill_ns = std::make_shared<std::atomic<int64_t>>(0);
  auto steps = std::make_shared<std::atomic<int64_t>>(0);
  auto verify_steps = std::make_shared<std::atomic<int64_t>>(0);
  auto first_verify = std::make_shared<std::atomic<int64_t>>(-1);
  // The first forward pass waits until every request is submitted, so both runs batch the same
  // way (all prompts in one step, then decode steps of every stream).
  auto all_submitted = std::make_shared<std::promise<void>>();
  std::shared_future<void> gate = all_submitted->get_future().share();
  FakeBackendConfig cfg;
  cfg.n_vocab = kVocab;
  cfg.first_allowed = kFirstAllowed;
  cfg.context = 512;
  cfg.n_blocks = 300;
  cfg.block_tokens = 16;  // the block size the engine assumes when it sizes the draft pool
  cfg.before_step = [gate] { gate.wait(); };
  cfg.on_forward = [=](std::span<const SequenceSlice> seqs) {
    int64_t rows = 0, extra = 0;
    bool decode = true;
    for (const auto& s : seqs) {
      rows += static_cast<int64_t>(s.tokens.size());
      extra += s.n_logits > 1 ? s.n_logits - 1 : 0;
      decode = decode && static_cast<int64_t>(s.tokens.size()) == std::max<int64_t>(1, s.n_logits);
    }
    const double ms = decode ? decode_ms(shape, rows - extra, extra) : 2.0 + 0.01 * static_cast<double>(rows);
    const auto ns = static_cast<int64_t>(ms * 1e6);
    clock->fetch_add(ns);
    if (!decode) {
      prefill_ns->fetch_add(ns);
      return;
    }
    decode_ns->fetch_add(ns);
    const int64_t step = steps->fetch_add(1);
    if (extra > 0) {
      verify_steps->fetch_add(1);
      int64_t none = -1;
      first_verify->compare_exchange_strong(none, step);
    }
  };
  EngineOptions o;
  o.max_running = streams;
  o.token_budget = 512;
  o.step_clock = [clock] { return static_cast<double>(clock->load()) * 1e-9; };
  o.backend_factory = [&](const LoadedModel&, const BackendOptions&) {
    return BackendChoice{std::make_unique<FakeBackend>(cfg), "fake backend"};
  };
  if (mode != SpecMode::kOff) {
    o.draft_model_path = kModel;
    o.draft_backend_factory = [&, accept, clock](const LoadedModel&, const BackendOptions& bo) {
      FakeBackendConfig d = cfg;
      d.before_step = {};
      d.on_forward = {};
      d.n_blocks = bo.kv_blocks;
      return BackendChoice{std::make_unique<ControlledDraft>(d, accept, clock), "controlled draft"};
    };
  }
  Engine engine(std::move(o));
  if (!load_and_wait(engine, kModel)) return out;
  Collector c;
  for (int64_t i = 0; i < streams; ++i) {
    Request r;
    r.prompt_tokens = prompts[static_cast<size_t>(i)];
    r.max_tokens = kGenTokens;
    r.sampling.temperature = 0;
    r.spec = mode;
    r.spec_max_draft = kMaxDraft;
    engine.submit(r, c.sink(static_cast<int>(i)));
  }
  all_submitted->set_value();
  if (!c.wait_finished(static_cast<int>(streams), std::chrono::seconds(120))) return out;
  // Draft passes are decode time, but for the draft's prompt prefill (one pass: every prompt
  // arrives in the same step).
  const double draft_ms = static_cast<double>(clock->load() - decode_ns->load() - prefill_ns->load()) * 1e-6;
  out.decode_steps = steps->load();
  out.verify_steps = verify_steps->load();
  out.first_verify_step = first_verify->load();
  for (int64_t i = 0; i < streams; ++i) {
    const Collected got = c.get(static_cast<int>(i));
    out.tokens.push_back(got.tokens);
    out.drafted += got.usage.drafted_tokens;
    out.accepted += got.usage.accepted_tokens;
  }
  out.decode_ms = static_cast<double>(decode_ns->load()) * 1e-6 + std::max(0.0, draft_ms - kDraftPassMs);
  return out;
}

}  // namespace

class TestSpecAuto : public QObject {
  Q_OBJECT

 private slots:
  void autoFollowsCostAndAcceptance_data() {
    QTest::addColumn<int>("shape");
    QTest::addColumn<double>("accept");
    QTest::addColumn<int>("streams");
    for (CostShape s : {CostShape::kFlat, CostShape::kLinear, CostShape::kOldCuda}) {
      for (double a : {0.0, 0.5, 0.9}) {
        for (int b : {1, 4, 8}) {
          const std::string name = std::string(shape_name(s)) + ", acceptance " + std::to_string(a).substr(0, 3) +
                                   ", " + std::to_string(b) + " streams";
          QTest::newRow(name.c_str()) << static_cast<int>(s) << a << b;
        }
      }
    }
  }
  void autoFollowsCostAndAcceptance() {
    QFETCH(int, shape);
    QFETCH(double, accept);
    QFETCH(int, streams);
    if (std::getenv("HEARTH_TEST_VERBOSE")) spdlog::set_level(spdlog::level::debug);  // one line per step
    const auto cost = static_cast<CostShape>(shape);
    std::mt19937_64 rng(fresh_seed("autoFollowsCostAndAcceptance"));
    int best_k = 0;
    const double oracle_ms = best_fixed_ms(cost, streams, accept, best_k);
    const bool pays = best_k > 0;
    // Several prompts: one 128-token run's realized acceptance varies much (20-30 verify steps).
    const int kRuns = streams == 1 ? 8 : 4;
    double plain_ms = 0, auto_ms = 0;
    for (int run = 0; run < kRuns; ++run) {
      std::vector<std::vector<TokenId>> prompts;
      for (int i = 0; i < streams; ++i) {
        std::vector<TokenId> p;
        for (int t = 0; t < 12; ++t) p.push_back(std::uniform_int_distribution<TokenId>(kFirstAllowed, kVocab - 1)(rng));
        prompts.push_back(std::move(p));
      }
      const RunResult plain = run_engine(cost, accept, prompts, SpecMode::kOff);
      const RunResult autos = run_engine(cost, accept, prompts, SpecMode::kAuto);
      QCOMPARE(static_cast<int>(plain.tokens.size()), streams);
      QCOMPARE(static_cast<int>(autos.tokens.size()), streams);
      for (int i = 0; i < streams; ++i) {
        const auto expected = fake_greedy(prompts[static_cast<size_t>(i)], kGenTokens, kVocab, kFirstAllowed);
        QCOMPARE(plain.tokens[static_cast<size_t>(i)], expected);
        QCOMPARE(autos.tokens[static_cast<size_t>(i)], expected);
      }
      const double speedup = plain.decode_ms / autos.decode_ms;  // same tokens
      const double measured_accept =
          autos.drafted > 0 ? static_cast<double>(autos.accepted) / static_cast<double>(autos.drafted) : 0.0;
      char what[400];
      std::snprintf(what, sizeof what,
                    "%s a=%.1f b=%d run %d: auto/plain %.3f (decode %.2f vs %.2f ms, %lld vs %lld steps, %lld verify, "
                    "first at step %lld; drafted %lld, accepted/drafted %.2f)",
                    shape_name(cost), accept, streams, run, speedup, autos.decode_ms, plain.decode_ms,
                    static_cast<long long>(autos.decode_steps), static_cast<long long>(plain.decode_steps),
                    static_cast<long long>(autos.verify_steps), static_cast<long long>(autos.first_verify_step),
                    static_cast<long long>(autos.drafted), measured_accept);
      std::printf("%s\n", what);
      // Never slower than plain decode, in every run (its exploring included).
      QVERIFY2(speedup >= 0.98, what);
      // Where speculation pays, `auto` finds it early (a short run must not spend itself exploring).
      if (pays) QVERIFY2(autos.first_verify_step >= 0 && autos.first_verify_step < 12, what);
      plain_ms += plain.decode_ms;
      auto_ms += autos.decode_ms;
    }
    const double speedup = plain_ms / auto_ms;
    const double oracle_speedup = plain_ms / kRuns / oracle_ms;
    char what[300];
    std::snprintf(what, sizeof what, "%s a=%.1f b=%d: auto/plain %.3f over %d runs; best fixed k=%d %.3fx (auto/best %.3f)",
                  shape_name(cost), accept, streams, speedup, kRuns, best_k, oracle_speedup, speedup / oracle_speedup);
    std::printf("%s\n", what);
    // Against the best fixed length, known in advance: `auto` pays for learning it (two plain
    // steps and a ramp of 3-5 verify steps at the start, one plain step at each new batch size
    // as streams finish), which weighs in a 128-token run of 20-30 steps. Measured: 0.88-1.03 at
    // one stream, 0.86-0.94 at 4 and 8 (flat rows). With a fixed verify overhead (old CUDA) the
    // first verify step loses, and the loss ledger then risks only what it has won: it climbs to
    // the paying length slowly (0.68-0.95 of the best); there it must only gain something.
    if (pays && oracle_speedup > 1.1) {
      if (cost == CostShape::kOldCuda) {
        QVERIFY2(speedup > 1.0, what);
      } else {
        QVERIFY2(speedup >= (streams == 1 ? 0.82 : 0.75) * oracle_speedup, what);
      }
    }
  }
};

QTEST_APPLESS_MAIN(TestSpecAuto)
#include "test_spec_auto.moc"
