// Speculative decoding against the model-free fake backend (fake_backend.h): greedy output with
// n-gram or draft-model speculation equals fake_greedy() (the independent reference), sampled
// output follows the target's distribution exactly (chi-square against a float64 reference of
// the sampler chain), and random rollbacks, cancels and preemptions leave both KV pools whole.
// Also the pieces on their own: n-gram lookup against a brute-force search, the acceptance rule
// against exact distributions, KvCache::truncate under random churn.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <random>

#include "core/common/error.h"
#include "core/engine/engine.h"
#include "core/engine/speculation.h"
#include "core/kv/kv_cache.h"
#include "core/model/loaded_model.h"
#include "tests/core/engine/engine_test_support.h"
#include "tests/core/engine/fake_backend.h"

using namespace hearth;
using namespace hearth::test;
using namespace std::chrono_literals;

namespace {

const std::string kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

// A draft "model": the fake backend's logits plus a deterministic perturbation of each value
// (so its greedy choice agrees with the target's only most of the time), or - with noise 0 -
// exactly the target.
class NoisyFake final : public WrappedFake {
 public:
  NoisyFake(FakeBackendConfig c, float noise, std::chrono::microseconds delay = {})
      : WrappedFake(std::move(c)), noise_(noise), delay_(delay) {}
  std::string device_name() const override { return "noisy fake"; }
  void forward_batch(std::span<const SequenceSlice> seqs, std::vector<float>& logits) override {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    inner_.forward_batch(seqs, logits);
    for (float& v : logits) {
      uint32_t bits = 0;
      std::memcpy(&bits, &v, 4);
      v += noise_ * static_cast<float>(mix64(bits) % 1000) / 1000.0f;
    }
  }

 private:
  float noise_;
  std::chrono::microseconds delay_;
};

struct SpecEngine {
  // draft_noise < 0: no draft model.
  SpecEngine(FakeBackendConfig config, EngineOptions options, float draft_noise, int64_t draft_blocks = 0,
             std::chrono::microseconds draft_delay = {})
      : cfg(config) {
    options.backend_factory = [this](const LoadedModel&, const BackendOptions&) {
      auto b = std::make_unique<FakeBackend>(cfg);
      backend = b.get();
      return BackendChoice{std::move(b), "fake backend"};
    };
    if (draft_noise >= 0) {
      options.draft_model_path = kModel;
      options.draft_backend_factory = [this, draft_noise, draft_blocks, draft_delay](const LoadedModel&,
                                                                                     const BackendOptions& bo) {
        FakeBackendConfig d = cfg;
        d.before_step = {};
        d.on_forward = {};
        d.step_delay = {};
        d.n_blocks = draft_blocks > 0 ? draft_blocks : bo.kv_blocks;
        return BackendChoice{std::make_unique<NoisyFake>(d, draft_noise, draft_delay), "noisy fake"};
      };
    }
    engine = std::make_unique<Engine>(std::move(options));
    loaded = load_and_wait(*engine, kModel);
  }
  FakeBackendConfig cfg;
  FakeBackend* backend = nullptr;
  std::unique_ptr<Engine> engine;
  bool loaded = false;
};

Request greedy_request(std::vector<TokenId> prompt, int64_t max_tokens, SpecMode spec, int32_t max_draft = 6) {
  Request r;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.spec = spec;
  r.spec_max_draft = max_draft;
  return r;
}

std::vector<TokenId> random_tokens(std::mt19937_64& rng, int64_t n, TokenId lo, TokenId hi) {
  std::vector<TokenId> p;
  for (int64_t i = 0; i < n; ++i) p.push_back(std::uniform_int_distribution<TokenId>(lo, hi)(rng));
  return p;
}

// Brute-force n-gram lookup: for n = max..1, every earlier start; the latest with k tokens
// after the match, else the earliest.
std::vector<TokenId> brute_ngram(const std::vector<TokenId>& t, int n_max, int k) {
  const int len = static_cast<int>(t.size());
  for (int n = std::min(n_max, len - 1); n >= 1; --n) {
    std::vector<int> starts;
    for (int i = 0; i + n <= len - 1; ++i) {
      bool eq = true;
      for (int j = 0; j < n; ++j) eq = eq && t[static_cast<size_t>(i + j)] == t[static_cast<size_t>(len - n + j)];
      if (eq) starts.push_back(i);
    }
    int best = starts.empty() ? -1 : starts.front();
    for (int i : starts) {
      if (i + n + k <= len) best = i;
    }
    if (best >= 0) {
      std::vector<TokenId> out;
      for (int j = best + n; j < len && j < best + n + k; ++j) out.push_back(t[static_cast<size_t>(j)]);
      return out;
    }
  }
  return {};
}

// Chi-square statistic over cells with expected count >= 5 (the rest pooled into one cell), and
// its degrees of freedom.
std::pair<double, int> chi_square(const std::map<std::vector<TokenId>, int64_t>& observed,
                                  const std::map<std::vector<TokenId>, double>& probs, int64_t n) {
  double chi = 0, pooled_e = 0, pooled_o = 0;
  int cells = 0;
  for (const auto& [key, p] : probs) {
    const double e = p * static_cast<double>(n);
    const auto it = observed.find(key);
    const double o = it == observed.end() ? 0.0 : static_cast<double>(it->second);
    if (e < 5) {
      pooled_e += e;
      pooled_o += o;
      continue;
    }
    chi += (o - e) * (o - e) / e;
    ++cells;
  }
  for (const auto& [key, o] : observed) {
    if (!probs.count(key)) pooled_o += static_cast<double>(o);  // impossible outcomes land here
  }
  if (pooled_e > 0) {
    chi += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
    ++cells;
  } else if (pooled_o > 0) {
    chi += 1e9;
  }
  return {chi, cells - 1};
}

// Upper quantile of chi-square(df) for a z-score (Wilson-Hilferty).
double chi_square_limit(int df, double z) {
  const double d = df;
  const double a = 2.0 / (9.0 * d);
  return d * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

}  // namespace

class TestSpeculation : public QObject {
  Q_OBJECT

 private slots:
  void ngramMatchesBruteForce() {
    std::mt19937_64 rng(fresh_seed("ngramMatchesBruteForce"));
    for (int trial = 0; trial < 3000; ++trial) {
      const auto len = std::uniform_int_distribution<int64_t>(0, 40)(rng);
      const auto t = random_tokens(rng, len, 0, std::uniform_int_distribution<TokenId>(1, 6)(rng));
      const int n_max = std::uniform_int_distribution<int>(1, 5)(rng);
      const int k = std::uniform_int_distribution<int>(0, 8)(rng);
      QCOMPARE(ngram_draft(t, n_max, k), brute_ngram(t, n_max, k));
    }
    const std::vector<TokenId> copy = {5, 6, 7, 8, 9, 1, 2, 5, 6, 7};
    QCOMPARE(ngram_draft(copy, 3, 4), (std::vector<TokenId>{8, 9, 1, 2}));
    const std::vector<TokenId> loop = {3, 4, 4, 4, 4, 4, 4};
    QCOMPARE(ngram_draft(loop, 2, 3), (std::vector<TokenId>{4, 4, 4}));
  }

  // The rule on its own: for random p and q, P(emit = v) computed exactly from
  // accept_draft_token / sample_residual equals p(v); sampled outcomes agree too.
  void acceptanceRuleIsExact() {
    std::mt19937_64 rng(fresh_seed("acceptanceRuleIsExact"));
    for (int trial = 0; trial < 200; ++trial) {
      const int v = std::uniform_int_distribution<int>(2, 7)(rng);
      auto random_dist = [&](bool sparse) {
        std::vector<float> d(static_cast<size_t>(v));
        double sum = 0;
        for (auto& x : d) {
          x = sparse && std::uniform_int_distribution<int>(0, 2)(rng) == 0 ? 0.0f : std::uniform_real_distribution<float>(0.01f, 1)(rng);
          sum += x;
        }
        if (sum == 0) d[0] = 1, sum = 1;
        for (auto& x : d) x = static_cast<float>(x / sum);
        return d;
      };
      const auto p = random_dist(true);
      const bool point = trial % 3 == 0;
      const auto q = random_dist(true);
      // Exact: sum over draft x ~ q of [accept prob * 1{v = x} + reject prob * residual(v)].
      std::vector<double> emitted(static_cast<size_t>(v), 0.0);
      std::mt19937_64 draw(trial);
      const int n = 20000;
      std::vector<double> counts(static_cast<size_t>(v), 0.0);
      for (int s = 0; s < n; ++s) {
        const TokenId x = point ? static_cast<TokenId>(trial % v) : sample_distribution(q, uniform01(draw));
        const std::span<const float> qs = point ? std::span<const float>() : std::span<const float>(q);
        const TokenId out = accept_draft_token(p, qs, x, uniform01(draw)) ? x : sample_residual(p, qs, x, uniform01(draw));
        QVERIFY(out >= 0 && out < v);
        counts[static_cast<size_t>(out)] += 1;
      }
      for (int i = 0; i < v; ++i) {
        const double e = p[static_cast<size_t>(i)];
        const double got = counts[static_cast<size_t>(i)] / n;
        const double sd = std::sqrt(std::max(e * (1 - e), 1e-6) / n);
        QVERIFY2(std::abs(got - e) < 6 * sd + 1e-9,
                 qPrintable(QString("trial %1 token %2: %3 vs p %4").arg(trial).arg(i).arg(got).arg(e)));
      }
    }
    // Greedy: p a point mass; the argmax is accepted, anything else replaced by it.
    const std::vector<float> p = {0, 0, 1, 0};
    QVERIFY(accept_draft_token(p, {}, 2, 0.999));
    QVERIFY(!accept_draft_token(p, {}, 1, 0.0));
    QCOMPARE(sample_residual(p, {}, 1, 0.5), 2);
  }

  void greedyArgmaxMatchesSampler() {
    std::mt19937_64 rng(fresh_seed("greedyArgmaxMatchesSampler"));
    SamplingParams greedy;
    greedy.temperature = 0;
    for (int trial = 0; trial < 2000; ++trial) {
      std::vector<float> row(static_cast<size_t>(std::uniform_int_distribution<int>(1, 12)(rng)));
      for (auto& v : row) {
        const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
        v = kind == 0 ? NAN : kind == 1 ? -INFINITY : kind == 2 ? INFINITY : static_cast<float>(std::uniform_int_distribution<int>(-3, 3)(rng));
      }
      Sampler sampler(greedy, static_cast<int32_t>(row.size()));
      TokenId expected = -1;
      try {
        expected = sampler.sample(row);
      } catch (const Error&) {
        expected = -1;
      }
      QCOMPARE(greedy_argmax(row), expected);
    }
  }

  void draftLengthFollowsAcceptance() {
    QCOMPARE(best_draft_length(0.0, 0.1, 8), 1);
    QVERIFY(best_draft_length(0.95, 0.02, 8) >= 6);
    QVERIFY(best_draft_length(0.5, 0.1, 8) < best_draft_length(0.9, 0.1, 8));
    QCOMPARE(best_draft_length(0.9, 0.1, 3), 3);
  }

  // Random tables grown, published, shared and truncated: the pool's invariants hold at every
  // step and everything comes back at the end.
  void truncateKeepsPoolWhole() {
    std::mt19937_64 rng(fresh_seed("truncateKeepsPoolWhole"));
    KvCache kv(40, 4, 7);
    std::vector<BlockTable> tables(6);
    std::vector<std::vector<TokenId>> tokens(6);
    std::vector<int64_t> computed(6, 0);
    auto copy = [](int32_t, int32_t) {};
    for (int it = 0; it < 20000; ++it) {
      const auto i = std::uniform_int_distribution<size_t>(0, tables.size() - 1)(rng);
      BlockTable& t = tables[i];
      switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
        case 0:
        case 1: {  // speculate: write k + 1 positions, keep a random prefix
          const int64_t k = std::uniform_int_distribution<int64_t>(0, 6)(rng);
          if (computed[i] + k + 1 > 64) break;
          if (!kv.prepare_write(t, computed[i], computed[i] + k + 1, copy)) break;
          while (static_cast<int64_t>(tokens[i].size()) < computed[i] + k + 1) tokens[i].push_back(std::uniform_int_distribution<TokenId>(0, 2)(rng));
          const int64_t keep = computed[i] + std::uniform_int_distribution<int64_t>(1, k + 1)(rng);
          tokens[i].resize(static_cast<size_t>(keep));
          kv.truncate(t, keep);
          computed[i] = keep;
          kv.publish_full_blocks(t, tokens[i], computed[i]);
          QVERIFY(static_cast<int64_t>(t.blocks.size()) == kv.blocks_for(keep));
          break;
        }
        case 2: {  // rollback further
          const int64_t keep = std::uniform_int_distribution<int64_t>(0, computed[i])(rng);
          kv.truncate(t, keep);
          tokens[i].resize(static_cast<size_t>(keep));
          computed[i] = keep;
          break;
        }
        case 3:  // finish
          kv.release(t);
          tokens[i].clear();
          computed[i] = 0;
          break;
        case 4: {  // restart from the prefix cache with another table's tokens
          const auto j = std::uniform_int_distribution<size_t>(0, tables.size() - 1)(rng);
          if (j == i) break;
          kv.release(t);
          tokens[i] = tokens[j];
          const auto m = kv.match_prefix(t, tokens[i], static_cast<int64_t>(tokens[i].size()));
          computed[i] = m.cached_tokens;
          tokens[i].resize(static_cast<size_t>(computed[i]));
          break;
        }
        default:
          break;
      }
      try {
        kv.pool().check_invariants();
      } catch (const std::exception& e) {
        QFAIL(e.what());
      }
    }
    for (auto& t : tables) kv.release(t);
    QCOMPARE(kv.pool().used(), int64_t{0});
    QCOMPARE(kv.pool().free() + kv.pool().cached(), kv.pool().total());
  }

  void greedyWithSpeculationEqualsReference_data() {
    QTest::addColumn<int>("mode");
    QTest::addColumn<double>("noise");
    QTest::addColumn<int>("vocab");
    QTest::newRow("ngram, vocab 512") << static_cast<int>(SpecMode::kNgram) << -1.0 << 512;
    QTest::newRow("ngram, vocab 6 (many matches)") << static_cast<int>(SpecMode::kNgram) << -1.0 << 6;
    QTest::newRow("draft = target") << static_cast<int>(SpecMode::kDraft) << 0.0 << 512;
    QTest::newRow("noisy draft") << static_cast<int>(SpecMode::kDraft) << 1.5 << 512;
    QTest::newRow("noisy draft, vocab 6") << static_cast<int>(SpecMode::kDraft) << 3.0 << 6;
    QTest::newRow("auto with a draft") << static_cast<int>(SpecMode::kAuto) << 1.0 << 512;
    QTest::newRow("auto, n-gram") << static_cast<int>(SpecMode::kAuto) << -1.0 << 6;
  }
  void greedyWithSpeculationEqualsReference() {
    QFETCH(int, mode);
    QFETCH(double, noise);
    QFETCH(int, vocab);
    std::mt19937_64 rng(fresh_seed("greedyWithSpeculationEqualsReference"));
    FakeBackendConfig cfg;
    cfg.n_vocab = vocab;
    cfg.context = 128;
    cfg.n_blocks = 200;
    EngineOptions o;
    o.max_running = 4;
    o.token_budget = 24;
    o.prefill_chunk = 8;
    o.max_queue = 100;
    SpecEngine se(cfg, o, static_cast<float>(noise));
    QVERIFY(se.loaded);
    const int n = 10;
    std::vector<Request> requests;
    for (int i = 0; i < n; ++i) {
      auto p = random_tokens(rng, std::uniform_int_distribution<int64_t>(1, 30)(rng), 3, vocab - 1);
      if (i % 2 == 0 && p.size() > 4) p.insert(p.end(), p.begin(), p.end());  // a passage repeated
      requests.push_back(greedy_request(p, std::uniform_int_distribution<int64_t>(1, 40)(rng), static_cast<SpecMode>(mode),
                                        std::uniform_int_distribution<int32_t>(1, 8)(rng)));
    }
    // One stream at a time, then all together.
    Collector alone, together;
    for (int i = 0; i < n; ++i) {
      se.engine->submit(requests[static_cast<size_t>(i)], alone.sink(i));
      QVERIFY(alone.wait_finished(i + 1));
    }
    for (int i = 0; i < n; ++i) se.engine->submit(requests[static_cast<size_t>(i)], together.sink(i));
    QVERIFY(together.wait_finished(n));
    int64_t drafted = 0, accepted = 0;
    for (int i = 0; i < n; ++i) {
      const auto& r = requests[static_cast<size_t>(i)];
      const auto expected = fake_greedy(r.prompt_tokens, r.max_tokens, vocab, 3);
      for (const Collected& c : {alone.get(i), together.get(i)}) {
        QCOMPARE(c.finish_reason, std::string("length"));
        QCOMPARE(c.tokens, expected);
        QCOMPARE(c.usage.completion_tokens, r.max_tokens);
        QVERIFY(c.usage.accepted_tokens <= c.usage.drafted_tokens);
        drafted += c.usage.drafted_tokens;
        accepted += c.usage.accepted_tokens;
      }
    }
    std::printf("drafted %lld, accepted %lld\n", static_cast<long long>(drafted), static_cast<long long>(accepted));
    if (mode != static_cast<int>(SpecMode::kAuto)) QVERIFY2(drafted > 0, "nothing was drafted");
    if (noise == 0.0) QCOMPARE(accepted, drafted);  // the draft is the target
    if (noise > 0 && mode == static_cast<int>(SpecMode::kDraft)) QVERIFY(accepted > 0 && accepted < drafted);
    QString why;
    QVERIFY2(pool_whole(*se.engine, why), qPrintable(why));  // also waits for the last published stats
    const EngineStats st = se.engine->stats();
    QCOMPARE(static_cast<int64_t>(st.drafted_tokens), drafted);
    QCOMPARE(st.draft_kv_blocks_used, int64_t{0});
  }

  // Sampling with speculation: the joint distribution of the first three generated tokens
  // equals the target's, computed in float64 from the fake logits with an independent
  // implementation of the chain (repeat penalty, temperature, top-k).
  void sampledDistributionEqualsTarget_data() {
    QTest::addColumn<int>("mode");
    QTest::addColumn<double>("noise");
    QTest::newRow("ngram") << static_cast<int>(SpecMode::kNgram) << -1.0;
    QTest::newRow("draft with another distribution") << static_cast<int>(SpecMode::kDraft) << 4.0;
    QTest::newRow("off (the test's own check)") << static_cast<int>(SpecMode::kOff) << -1.0;
  }
  void sampledDistributionEqualsTarget() {
    QFETCH(int, mode);
    QFETCH(double, noise);
    const uint64_t seed = fresh_seed("sampledDistributionEqualsTarget");
    const int vocab = 8, first = 3;  // tokens 3..7 (0..2 get -50)
    FakeBackendConfig cfg;
    cfg.n_vocab = vocab;
    cfg.context = 32;
    cfg.n_blocks = 200;
    EngineOptions o;
    o.max_running = 8;
    o.max_queue = 5000;
    SpecEngine se(cfg, o, static_cast<float>(noise));
    QVERIFY(se.loaded);
    SamplingParams sp;
    sp.temperature = 1.6f;
    sp.top_k = 4;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.repeat_penalty = 1.5f;
    sp.penalty_last_n = 64;
    // The prompt repeats itself so n-gram lookup finds drafts.
    const std::vector<TokenId> prompt = {4, 5, 6, 7, 3, 4, 5, 6, 7, 3, 4, 5};

    // Reference: p(next | history) in float64.
    auto target = [&](const std::vector<TokenId>& history) {
      uint64_t h = 0;
      for (TokenId t : history) h = fake_hash_step(h, t);
      std::vector<float> raw(vocab);
      fake_logits(h, vocab, first, raw.data());
      std::vector<double> l(raw.begin(), raw.end());
      std::vector<char> seen(vocab, 0);
      for (TokenId t : history) seen[static_cast<size_t>(t)] = 1;  // all within penalty_last_n
      for (int v = 0; v < vocab; ++v) {
        if (seen[static_cast<size_t>(v)]) l[static_cast<size_t>(v)] = l[v] > 0 ? l[v] / 1.5 : l[v] * 1.5;
      }
      std::vector<int> ids(vocab);
      for (int v = 0; v < vocab; ++v) ids[static_cast<size_t>(v)] = v;
      std::sort(ids.begin(), ids.end(), [&](int a, int b) { return l[a] > l[b]; });
      std::vector<double> p(vocab, 0.0);
      double sum = 0;
      for (int i = 0; i < 4; ++i) sum += std::exp((l[ids[i]] - l[ids[0]]) / 1.6);
      for (int i = 0; i < 4; ++i) p[static_cast<size_t>(ids[i])] = std::exp((l[ids[i]] - l[ids[0]]) / 1.6) / sum;
      return p;
    };
    std::map<std::vector<TokenId>, double> probs;
    for (TokenId a = 0; a < vocab; ++a) {
      auto h1 = prompt;
      const double pa = target(h1)[a];
      if (pa == 0) continue;
      h1.push_back(a);
      const auto p2 = target(h1);
      for (TokenId b = 0; b < vocab; ++b) {
        if (p2[b] == 0) continue;
        auto h2 = h1;
        h2.push_back(b);
        const auto p3 = target(h2);
        for (TokenId c = 0; c < vocab; ++c) {
          if (p3[c] > 0) probs[{a, b, c}] = pa * p2[b] * p3[c];
        }
      }
    }

    const int64_t n = 4000;
    Collector col;
    for (int64_t i = 0; i < n; ++i) {
      Request r;
      r.prompt_tokens = prompt;
      r.max_tokens = 4;  // drafts for tokens 2 and 3 (the 4th is never drafted past max_tokens)
      r.sampling = sp;
      r.sampling.seed = seed + static_cast<uint64_t>(i);
      r.spec = static_cast<SpecMode>(mode);
      r.spec_max_draft = 3;
      se.engine->submit(r, col.sink(static_cast<int>(i)));
      if (i % 500 == 499) QVERIFY(col.wait_finished(static_cast<int>(i + 1), std::chrono::seconds(120)));
    }
    QVERIFY(col.wait_finished(static_cast<int>(n), std::chrono::seconds(120)));
    std::map<std::vector<TokenId>, int64_t> observed;
    int64_t drafted = 0, accepted = 0;
    for (int64_t i = 0; i < n; ++i) {
      const Collected c = col.get(static_cast<int>(i));
      QCOMPARE(c.tokens.size(), size_t{4});
      observed[{c.tokens[0], c.tokens[1], c.tokens[2]}] += 1;
      drafted += c.usage.drafted_tokens;
      accepted += c.usage.accepted_tokens;
    }
    const auto [chi, df] = chi_square(observed, probs, n);
    const double limit = chi_square_limit(df, 4.0);  // p ~ 3e-5: a real bias fails, noise does not
    std::printf("chi-square %.1f with %d degrees of freedom (limit %.1f); drafted %lld, accepted %lld\n", chi, df, limit,
                static_cast<long long>(drafted), static_cast<long long>(accepted));
    QVERIFY2(chi < limit, qPrintable(QString("chi-square %1 >= %2 (df %3)").arg(chi).arg(limit).arg(df)));
    if (mode != static_cast<int>(SpecMode::kOff)) {
      QVERIFY2(drafted > n / 2, "speculation hardly ran");
      QVERIFY(accepted > 0 && accepted < drafted);
    }
  }

  // Thousands of steps of speculation with rejections, cancels and preemption (tight pools for
  // the target and the draft): outputs stay exact and both pools end whole.
  void randomizedRollbackLeavesPoolsWhole() {
    std::mt19937_64 rng(fresh_seed("randomizedRollbackLeavesPoolsWhole"));
    FakeBackendConfig cfg;
    cfg.n_blocks = 24;
    cfg.context = 64;
    cfg.n_vocab = 12;  // short loops: n-gram drafts get accepted now and then
    cfg.step_delay = 200us;
    EngineOptions o;
    o.max_running = 5;
    o.token_budget = 24;
    o.prefill_chunk = 6;
    o.max_queue = 1000;
    SpecEngine se(cfg, o, 2.0f, /*draft_blocks=*/14);
    QVERIFY(se.loaded);
    Collector c;
    std::vector<Request> requests;
    std::vector<uint64_t> ids;
    const int n = 1200;  // a few thousand engine steps
    for (int i = 0; i < n; ++i) {
      const SpecMode mode = static_cast<SpecMode>(std::uniform_int_distribution<int>(0, 3)(rng));
      Request r = greedy_request(random_tokens(rng, std::uniform_int_distribution<int64_t>(1, 20)(rng), 3, 11),
                                 std::uniform_int_distribution<int64_t>(1, 30)(rng), mode,
                                 std::uniform_int_distribution<int32_t>(0, 8)(rng));
      r.priority = std::uniform_int_distribution<int>(0, 1)(rng) ? Priority::kBackground : Priority::kInteractive;
      requests.push_back(r);
      ids.push_back(se.engine->submit(r, c.sink(i)));
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 2000)(rng)));
        se.engine->cancel(ids[std::uniform_int_distribution<size_t>(0, ids.size() - 1)(rng)]);
      }
    }
    QVERIFY(c.wait_finished(n, std::chrono::seconds(120)));
    int cancelled = 0;
    int64_t drafted = 0;
    for (int i = 0; i < n; ++i) {
      const Collected got = c.get(i);
      const auto& r = requests[static_cast<size_t>(i)];
      const auto expected = fake_greedy(r.prompt_tokens, r.max_tokens, 12, 3);
      drafted += got.usage.drafted_tokens;
      if (got.finish_reason == "cancelled") {
        ++cancelled;
        QVERIFY(got.tokens.size() <= expected.size());
        QVERIFY(std::equal(got.tokens.begin(), got.tokens.end(), expected.begin()));
      } else {
        QCOMPARE(got.finish_reason, std::string("length"));
        QCOMPARE(got.tokens, expected);
      }
    }
    const EngineStats st = se.engine->stats();
    std::printf("%d of %d cancelled, %llu preemptions, %lld drafted, %llu steps\n", cancelled, n,
                static_cast<unsigned long long>(st.preemptions), static_cast<long long>(drafted),
                static_cast<unsigned long long>(se.backend->steps()));
    QVERIFY(cancelled > 0);
    QVERIFY(drafted > 0);
    QString why;
    QVERIFY2(pool_whole(*se.engine, why), qPrintable(why));
    QCOMPARE(se.engine->stats().draft_kv_blocks_used, int64_t{0});
  }

  // `auto` measures step times: with a perfect, free draft it speculates nearly all the time;
  // with a slow draft that is mostly wrong it mostly decodes plainly. Output stays exact.
  void autoSpeculatesOnlyWhereItPays_data() {
    QTest::addColumn<double>("noise");
    QTest::addColumn<int>("draft_delay_us");
    QTest::addColumn<bool>("pays");
    QTest::newRow("free perfect draft") << 0.0 << 0 << true;
    QTest::newRow("slow poor draft") << 6.0 << 8000 << false;
  }
  void autoSpeculatesOnlyWhereItPays() {
    QFETCH(double, noise);
    QFETCH(int, draft_delay_us);
    QFETCH(bool, pays);
    std::mt19937_64 rng(fresh_seed("autoSpeculatesOnlyWhereItPays"));
    FakeBackendConfig cfg;
    cfg.step_delay = 2ms;
    cfg.context = 512;
    cfg.n_blocks = 300;
    EngineOptions o;
    o.max_running = 2;
    SpecEngine se(cfg, o, static_cast<float>(noise), 0, std::chrono::microseconds(draft_delay_us));
    QVERIFY(se.loaded);
    Collector c;
    const int n = 2;
    std::vector<Request> requests;
    for (int i = 0; i < n; ++i) {
      requests.push_back(greedy_request(random_tokens(rng, 10, 3, 511), 200, SpecMode::kAuto, 4));
      se.engine->submit(requests.back(), c.sink(i));
    }
    QVERIFY(c.wait_finished(n, std::chrono::seconds(120)));
    int64_t drafted = 0, generated = 0;
    for (int i = 0; i < n; ++i) {
      const Collected got = c.get(i);
      QCOMPARE(got.tokens, fake_greedy(requests[static_cast<size_t>(i)].prompt_tokens, 200, 512, 3));
      drafted += got.usage.drafted_tokens;
      generated += got.usage.completion_tokens;
    }
    std::printf("auto drafted %lld for %lld generated tokens\n", static_cast<long long>(drafted), static_cast<long long>(generated));
    if (pays) {
      QVERIFY2(drafted > generated / 2, "auto did not speculate with a free perfect draft");
    } else {
      QVERIFY2(drafted < generated / 4, "auto kept speculating with a slow, poor draft");
    }
  }

  // `auto` through the whole engine, timed by a fake clock that the fake backend advances by a
  // cost model of the step (a function of the decode slices and the rows), so the outcome does
  // not depend on this machine's load: greedy output identical to plain decode, fake-clock
  // throughput at least 0.98x plain where speculation does not pay and above plain where it does.
  void autoFollowsStepCostModel_data() {
    QTest::addColumn<int>("streams");
    QTest::addColumn<double>("noise");  // draft model noise: 0 = the target itself (acceptance 1)
    QTest::addColumn<int>("model");     // 0: a verify row costs twice a decode row; 1: rows nearly free
    QTest::addColumn<bool>("pays");
    QTest::newRow("1 stream, steep rows, perfect draft") << 1 << 0.0 << 0 << false;
    QTest::newRow("4 streams, steep rows, perfect draft") << 4 << 0.0 << 0 << false;
    QTest::newRow("4 streams, steep rows, poor draft") << 4 << 6.0 << 0 << false;
    QTest::newRow("1 stream, cheap rows, perfect draft") << 1 << 0.0 << 1 << true;
    QTest::newRow("4 streams, cheap rows, perfect draft") << 4 << 0.0 << 1 << true;
    QTest::newRow("4 streams, cheap rows, poor draft") << 4 << 6.0 << 1 << false;
  }
  void autoFollowsStepCostModel() {
    QFETCH(int, streams);
    QFETCH(double, noise);
    QFETCH(int, model);
    QFETCH(bool, pays);
    std::mt19937_64 rng(fresh_seed("autoFollowsStepCostModel"));
    std::vector<Request> requests;
    for (int i = 0; i < streams; ++i) requests.push_back(greedy_request(random_tokens(rng, 10, 3, 511), 160, SpecMode::kOff, 6));
    // Fake seconds: prefill steps 2 ms + 10 us a token; decode steps (every slice one token plus
    // its drafts) by the model.
    auto step_cost = [model](std::span<const SequenceSlice> seqs) {
      int64_t rows = 0, extra = 0;
      bool decode = true;
      for (const auto& s : seqs) {
        rows += static_cast<int64_t>(s.tokens.size());
        extra += s.n_logits > 1 ? s.n_logits - 1 : 0;
        decode = decode && static_cast<int64_t>(s.tokens.size()) == std::max<int64_t>(1, s.n_logits);
      }
      if (!decode) return 2e-3 + 1e-5 * static_cast<double>(rows);
      const auto b = static_cast<double>(rows - extra), e = static_cast<double>(extra);
      if (model == 0) return 1e-3 * (1.0 + b + 2.0 * e + (e > 0 ? 0.3 : 0.0));
      return 1e-3 * (4.0 + 0.2 * b + 0.02 * e + (e > 0 ? 0.1 : 0.0));
    };
    double plain_s = 0, auto_s = 0;
    int64_t steps = 0;
    auto run = [&](SpecMode mode, double& fake_seconds, std::vector<Collected>& out) {
      auto clock = std::make_shared<std::atomic<int64_t>>(0);  // fake nanoseconds
      // The first forward pass waits until every request is submitted, so both runs batch the
      // same way (all prompts in the second step, then decode steps of every stream).
      auto all_submitted = std::make_shared<std::promise<void>>();
      std::shared_future<void> gate = all_submitted->get_future().share();
      FakeBackendConfig cfg;
      cfg.before_step = [gate] { gate.wait(); };
      cfg.context = 512;
      cfg.n_blocks = 600;
      cfg.on_forward = [clock, step_cost](std::span<const SequenceSlice> seqs) {
        clock->fetch_add(static_cast<int64_t>(step_cost(seqs) * 1e9));
      };
      EngineOptions o;
      o.max_running = streams;
      o.step_clock = [clock] { return static_cast<double>(clock->load()) * 1e-9; };
      SpecEngine se(cfg, o, mode == SpecMode::kOff ? -1.0f : static_cast<float>(noise));
      QVERIFY(se.loaded);
      Collector c;
      for (int i = 0; i < streams; ++i) {
        Request r = requests[static_cast<size_t>(i)];
        r.spec = mode;
        se.engine->submit(r, c.sink(i));
      }
      all_submitted->set_value();
      QVERIFY(c.wait_finished(streams, std::chrono::seconds(120)));
      steps = se.backend->steps();
      fake_seconds = static_cast<double>(clock->load()) * 1e-9;
      for (int i = 0; i < streams; ++i) out.push_back(c.get(i));
    };
    std::vector<Collected> plain, autos;
    run(SpecMode::kOff, plain_s, plain);
    const int64_t plain_steps = steps;
    run(SpecMode::kAuto, auto_s, autos);
    int64_t drafted = 0, accepted = 0;
    for (int i = 0; i < streams; ++i) {
      const auto expected = fake_greedy(requests[static_cast<size_t>(i)].prompt_tokens, 160, 512, 3);
      QCOMPARE(plain[static_cast<size_t>(i)].tokens, expected);
      QCOMPARE(autos[static_cast<size_t>(i)].tokens, expected);
      drafted += autos[static_cast<size_t>(i)].usage.drafted_tokens;
      accepted += autos[static_cast<size_t>(i)].usage.accepted_tokens;
    }
    const double speedup = plain_s / auto_s;  // same tokens: throughput ratio
    std::printf("fake time plain %.1f ms (%lld steps), auto %.1f ms (%lld steps): auto/plain throughput %.3f; drafted %lld, accepted %lld\n",
                plain_s * 1e3, static_cast<long long>(plain_steps), auto_s * 1e3, static_cast<long long>(steps), speedup,
                static_cast<long long>(drafted), static_cast<long long>(accepted));
    QVERIFY2(speedup >= 0.98, "auto is slower than plain decode");
    if (pays) QVERIFY2(speedup > 1.2, "auto did not speculate where it pays");
  }

  void refusesDraftModeWithoutDraftModel() {
    SpecEngine se({}, {}, -1.0f);
    QVERIFY(se.loaded);
    Collector c;
    bool threw = false;
    try {
      se.engine->submit(greedy_request({5, 6}, 3, SpecMode::kDraft), c.sink(0));
    } catch (const Error& e) {
      threw = QString(e.what()).contains("draft");
    }
    QVERIFY(threw);
    // A constrained request with speculation asked for runs without it.
    Request r = greedy_request({5, 6, 5, 6, 5}, 5, SpecMode::kNgram);
    class Any final : public TokenConstraint {
     public:
      void mask(std::span<float>) override {}
      void accept(TokenId) override {}
      bool complete() const override { return false; }
    };
    r.constraint = [](const Tokenizer&) { return std::make_unique<Any>(); };
    se.engine->submit(r, c.sink(1));
    QVERIFY(c.wait_finished(1));
    QCOMPARE(c.get(1).usage.drafted_tokens, int64_t{0});
    QCOMPARE(c.get(1).tokens, fake_greedy(r.prompt_tokens, 5, 512, 3));
  }

  void rejectsDraftWithAnotherVocabulary() {
    FakeBackendConfig cfg;
    EngineOptions o;
    o.backend_factory = [cfg](const LoadedModel&, const BackendOptions&) {
      return BackendChoice{std::make_unique<FakeBackend>(cfg), "fake"};
    };
    o.draft_model_path = kModel;
    o.draft_backend_factory = [cfg](const LoadedModel&, const BackendOptions&) {
      FakeBackendConfig d = cfg;
      d.n_vocab = 500;
      return BackendChoice{std::make_unique<FakeBackend>(d), "fake"};
    };
    Engine engine(o);
    std::promise<ModelEvent> done;
    engine.load_model(kModel, [&](const ModelEvent& e) {
      if (e.kind == ModelEvent::Kind::kLoaded || e.kind == ModelEvent::Kind::kFailed) done.set_value(e);
    });
    const ModelEvent e = done.get_future().get();
    QVERIFY(e.kind == ModelEvent::Kind::kFailed);
    std::printf("%s\n", e.message.c_str());
    QVERIFY(QString::fromStdString(e.message).contains("500"));
  }
};

QTEST_APPLESS_MAIN(TestSpeculation)
#include "test_speculation.moc"
