// SpecController and StepCostModel against simulated batches: streams whose drafts are accepted
// with a known per-token probability, and step times that are a function of the batch and the
// extra rows (linear, flat then steep, with or without a fixed verify overhead), with noise.
// `auto` must never fall below 0.98x plain decode, must beat plain where speculation pays
// (judged by an independent oracle: the best fixed draft length, computed in closed form), and
// its exploration must stay within its budget.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/engine/spec_controller.h"
#include "core/engine/step_cost_model.h"

using namespace hearth;

namespace {

uint64_t fresh_seed(const char* what) {
  const char* env = std::getenv("HEARTH_TEST_SEED");  // to repeat a failure
  const uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("%s: seed %llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

// Step time (seconds) of b streams with e extra rows.
using CostFn = std::function<double(int64_t b, int64_t e)>;

struct CostCase {
  const char* name;
  CostFn cost;
};

std::vector<CostCase> cost_cases() {
  const double ms = 1e-3;
  return {
      // Every row as dear as a decode row, plus a fixed part and a verify overhead (no graph).
      {"linear", [=](int64_t b, int64_t e) { return ms * (1.0 + 1.0 * static_cast<double>(b + e) + (e > 0 ? 0.2 : 0.0)); }},
      // Weights read once for up to 16 rows, then compute-bound.
      {"flat to 16", [=](int64_t b, int64_t e) {
         const auto r = static_cast<double>(b + e);
         return ms * (5.0 + 0.05 * r + 0.6 * std::max(0.0, r - 16.0) + (e > 0 ? 0.3 : 0.0));
       }},
      // Verify rows far dearer than decode rows: speculation never pays.
      {"steep", [=](int64_t b, int64_t e) { return ms * (0.2 + 2.0 * static_cast<double>(b + e) + (e > 0 ? 1.0 : 0.0)); }},
      // Today's CUDA shape (8B-like): a 4.7 ms graph step, verify steps without the graph.
      {"cuda-like", [=](int64_t b, int64_t e) {
         const auto r = static_cast<double>(b + e);
         return e == 0 ? ms * (4.5 + 0.25 * r) : ms * (5.5 + 0.9 * r);
       }},
  };
}

// Expected tokens of one stream drafting k tokens with per-token acceptance a: sum_{j=0..k} a^j.
double expected_tokens(double a, int k) {
  double s = 0, g = 1;
  for (int j = 0; j <= k; ++j, g *= a) s += g;
  return s;
}

// The oracle: tokens/s of the best fixed draft length for every stream (0 = plain).
double oracle_rate(const CostFn& cost, const std::vector<double>& accept, int max_draft, int& best_k) {
  const auto b = static_cast<int64_t>(accept.size());
  double best = 0;
  for (int k = 0; k <= max_draft; ++k) {
    double tokens = 0;
    for (double a : accept) tokens += expected_tokens(a, k);
    const double rate = tokens / cost(b, b * k);
    if (rate > best) {
      best = rate;
      best_k = k;
    }
  }
  return best;
}

struct SimResult {
  double rate = 0;  // tokens per simulated second
  int64_t steps = 0, verify_steps = 0;
  double explore_lost = 0, seconds = 0, max_step = 0, warmup_seconds = 0;
};

// Runs b streams until each has `tokens_per_stream` tokens; `use_auto` false: plain decode.
// `warmup`: the first step of each verify shape costs this many plain steps more (a first
// launch: lazy module loading, library plans), counted apart in warmup_seconds.
SimResult simulate(const CostFn& cost, const std::vector<double>& accept, int max_draft, int64_t tokens_per_stream,
                   bool use_auto, double noise, std::mt19937_64& rng, double warmup = 0) {
  std::set<int64_t> launched;
  const auto b = static_cast<int64_t>(accept.size());
  SpecController controller;
  std::vector<SpecStreamState> states(accept.size());
  std::normal_distribution<double> jitter(0.0, noise);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  SimResult r;
  int64_t tokens = 0;
  while (tokens < b * tokens_per_stream) {
    std::vector<SpecAsk> asks;
    for (auto& s : states) asks.push_back({&s, true, max_draft});
    const std::vector<int32_t> k = use_auto ? controller.plan(asks, b, 4096) : std::vector<int32_t>(accept.size(), 0);
    int64_t extra = 0, emitted = 0;
    for (size_t i = 0; i < accept.size(); ++i) {
      extra += k[i];
      int64_t accepted = 0;
      while (accepted < k[i] && u(rng) < accept[i]) ++accepted;
      emitted += 1 + accepted;
      if (k[i] > 0) SpecController::record_verify(states[i], k[i], accepted);
    }
    double seconds = cost(b, extra) * std::max(0.5, 1.0 + jitter(rng));
    if (warmup > 0 && extra > 0 && launched.insert(extra).second) {
      seconds += warmup * cost(b, 0);
      r.warmup_seconds += warmup * cost(b, 0);
    }
    controller.record_step(b, extra, emitted, seconds);
    r.seconds += seconds;
    r.max_step = std::max(r.max_step, seconds);
    tokens += emitted;
    ++r.steps;
    r.verify_steps += extra > 0 ? 1 : 0;
  }
  r.rate = static_cast<double>(tokens) / r.seconds;
  r.explore_lost = controller.lost_seconds();
  return r;
}

}  // namespace

class TestSpecController : public QObject {
  Q_OBJECT

 private slots:
  // Estimates: measured cells as measured, verify cells interpolated among themselves (not
  // with the plain cell), the prior slope above a single verify cell, warm-up outliers dropped.
  void costModelEstimates() {
    StepCostModel m;
    QCOMPARE(m.estimate(2, 0), 0.0);  // nothing measured
    m.record(2, 0, 1.0);
    QCOMPARE(m.estimate(2, 0), 1.0);
    QVERIFY(std::abs(m.estimate(2, 5) - (1.0 + 5 * StepCostModel::kPriorRowFraction)) < 1e-12);
    m.record(2, 2, 1.5);   // one verify cell: prior slope above it
    QVERIFY(std::abs(m.estimate(2, 4) - (1.5 + 2 * StepCostModel::kPriorRowFraction)) < 1e-12);
    QVERIFY(m.estimate(2, 1) >= 1.0 && m.estimate(2, 1) <= 1.5);
    m.record(2, 6, 2.3);   // two: interpolation between, their slope above
    QVERIFY(std::abs(m.estimate(2, 4) - 1.9) < 1e-12);
    QVERIFY(std::abs(m.estimate(2, 8) - 2.7) < 1e-12);
    QCOMPARE(m.largest_measured(2), int64_t{6});
    // A plain cell's first four samples keep their minimum (a slow first launch; and the loss
    // ledger must not judge against a plain cost measured too high), then a moving average.
    m.record(2, 0, 0.8);
    QCOMPARE(m.estimate(2, 0), 0.8);
    m.record(2, 0, 1.8);
    m.record(2, 0, 0.9);
    QCOMPARE(m.estimate(2, 0), 0.8);
    m.record(2, 0, 1.8);
    QVERIFY(std::abs(m.estimate(2, 0) - (0.8 + StepCostModel::kTimeWeight * 1.0)) < 1e-12);
    // The loss ledger's plain cost: the lower of that and the long average of the samples after
    // the first, which one slow sample moves less.
    {
      StepCostModel l;
      l.record(1, 0, 3.0);  // a first launch: left out of the average
      for (int i = 0; i < 10; ++i) l.record(1, 0, 1.0);
      QCOMPARE(l.ledger_plain_seconds(1), 1.0);
      l.record(1, 0, 2.0);
      QVERIFY(std::abs(l.estimate(1, 0) - 1.15) < 1e-12);
      QVERIFY(std::abs(l.ledger_plain_seconds(1) - 12.0 / 11.0) < 1e-12);
    }
    // A verify cell keeps the minimum of its first two only.
    {
      StepCostModel v;
      v.record(1, 0, 1.0);
      v.record(1, 2, 1.4);
      v.record(1, 2, 1.3);
      v.record(1, 2, 1.5);
      QVERIFY(std::abs(v.estimate(1, 2) - (1.3 + StepCostModel::kTimeWeight * 0.2)) < 1e-12);
    }
    // A first verify sample far above even a linear cost is a warm-up: dropped once.
    m.record(3, 0, 1.0);
    m.record(3, 3, 50.0);
    QVERIFY(!m.measured(3, 3));
    m.record(3, 3, 40.0);
    QVERIFY(m.measured(3, 3));
    // Kept, but far above the estimate made before it (a graph capture?): suspect. The planner's
    // estimate ignores it, the pessimistic one keeps it; a second sample replaces it.
    QCOMPARE(m.estimate(3, 3, true), 40.0);
    QVERIFY(m.estimate(3, 3) < 2.0);
    m.record(3, 3, 45.0);
    QCOMPARE(m.estimate(3, 3), 45.0);
    QCOMPARE(m.estimate(3, 3, true), 45.0);
    // Pessimistic: above a single verify cell its whole extra cost over plain counts per row.
    {
      StepCostModel p;
      p.record(1, 0, 1.0);
      p.record(1, 2, 1.4);
      QVERIFY(std::abs(p.estimate(1, 4) - (1.4 + 2 * StepCostModel::kPriorRowFraction)) < 1e-12);
      QVERIFY(std::abs(p.estimate(1, 4, true) - (1.4 + 2 * 0.2)) < 1e-12);
      // A batch size never seen (beyond every recorded one): plain from the others, the extra
      // cost of the rows from the nearest batch size with verify steps.
      QVERIFY(std::abs(p.plain_seconds(5) - 1.0) < 1e-12);
      QVERIFY(std::abs(p.estimate(5, 2) - 1.4) < 1e-12);
      StepCostModel q;
      q.record(4, 0, 2.0);
      QVERIFY(std::abs(q.estimate(9, 3) - (2.0 + 3 * StepCostModel::kPriorRowFraction * 2.0)) < 1e-12);  // no verify anywhere
      // Fewer streams than any measured: in proportion to the streams (a low guess), and a
      // measured smaller batch is capped by a larger one's cost.
      QVERIFY(std::abs(q.plain_seconds(2) - 1.0) < 1e-12);
      q.record(2, 0, 2.5);
      QVERIFY(std::abs(q.plain_seconds(2) - 2.0) < 1e-12);
      QVERIFY(std::abs(q.plain_seconds(3) - 2.0) < 1e-12);  // between 2 (capped) and 4
    }
    // The plain refresh counter.
    QCOMPARE(m.steps_since_plain(3), int64_t{2});
    m.record(3, 0, 1.0);
    QCOMPARE(m.steps_since_plain(3), int64_t{0});
  }

  // With exact costs the planner gives drafts to the streams with the best acceptance first.
  void plannerPrefersHighAcceptance() {
    SpecController c;
    std::vector<SpecStreamState> st(2);
    for (int i = 0; i < 20; ++i) {
      SpecController::record_verify(st[0], 4, 4);  // always accepted
      SpecController::record_verify(st[1], 4, 0);  // never
    }
    // Rows cost 1% of a plain step each (measured at 1..8 extra rows).
    for (int e = 0; e <= 8; ++e) {
      for (int n = 0; n < SpecController::kMinPlainSamples; ++n) c.record_step(2, e, 2, 1.0 + 0.01 * e);
    }
    std::vector<SpecAsk> asks = {{&st[0], true, 4}, {&st[1], true, 4}};
    const auto k = c.plan(asks, 2, 100);
    QCOMPARE(k[0], 4);
    // The poor stream's acceptance is pooled a little with the batch's mean (against starving a
    // stream after a few unlucky steps): with rows this cheap it may keep one draft row.
    QVERIFY2(k[1] <= 1, qPrintable(QString::number(k[1])));
    // A forced stream drafts even when it does not pay.
    std::vector<SpecAsk> forced = {{&st[1], false, 4}};
    QVERIFY(c.plan(forced, 2, 100)[0] >= 1);
  }

  // The main property, over cost shapes x batch sizes x acceptances (fixed, mixed, random), at
  // the bench's length (128 tokens per stream) and a long one (4,096). With step-time noise, a
  // shape's cost is sometimes measured too high and a paying shape is then not tried again within
  // the run: most (not all) paying cases must be found; without noise, every one.
  void autoNeverSlowerThanPlain_data() {
    QTest::addColumn<double>("noise");   // relative step-time jitter (standard deviation)
    QTest::addColumn<double>("warmup");  // first launch of each verify shape, in plain steps
    QTest::newRow("2% step-time noise") << 0.02 << 0.0;
    QTest::newRow("exact step times") << 0.0 << 0.0;
  }
  void autoNeverSlowerThanPlain() {
    QFETCH(double, noise);
    QFETCH(double, warmup);
    const double kNoise = noise;
    std::mt19937_64 rng(fresh_seed("autoNeverSlowerThanPlain"));
    const int max_draft = 8;
    int paying_cases = 0, found = 0, cases = 0;
    for (const CostCase& cc : cost_cases()) {
      for (int64_t b : {1, 2, 4, 8, 16}) {
        for (int variant = 0; variant < 7; ++variant) {
          std::vector<double> accept(static_cast<size_t>(b));
          const double fixed[] = {0.0, 0.3, 0.6, 0.9, 1.0};
          for (auto& a : accept) {
            a = variant < 5 ? fixed[variant] : variant == 5 ? std::uniform_real_distribution<double>(0, 1)(rng) : 0.0;
          }
          if (variant == 6) accept[0] = 1.0;  // one good stream among poor ones
          for (int64_t length : {128, 4096}) {
            ++cases;
            const uint64_t case_seed = rng();
            std::mt19937_64 r1(case_seed), r2(case_seed + 1);
            const SimResult plain = simulate(cc.cost, accept, max_draft, length, false, kNoise, r1);
            const SimResult autos = simulate(cc.cost, accept, max_draft, length, true, kNoise, r2, warmup);
            int best_k = 0;
            const double oracle = oracle_rate(cc.cost, accept, max_draft, best_k);
            const double plain_exact = static_cast<double>(b) / cc.cost(b, 0);
            // Against plain decode's exact rate (noise has mean 0): the simulated plain run is
            // printed, the comparison does not add its noise to auto's.
            // A first launch's warm-up is a one-off per process (plain decode paid its own at
            // its first step): "never slower" is judged without it; the speed-ups with it.
            const double tokens = autos.rate * autos.seconds;
            const double ratio = tokens / (autos.seconds - autos.warmup_seconds) / plain_exact;
            const double ratio_all = autos.rate / plain_exact;
            const std::string what = std::string(cc.name) + " b=" + std::to_string(b) + " variant " +
                                     std::to_string(variant) + " length " + std::to_string(length) +
                                     ": auto/plain " + std::to_string(ratio) + " (simulated plain/exact " +
                                     std::to_string(plain.rate / plain_exact) + "), oracle/plain " +
                                     std::to_string(oracle / plain_exact) + " (k=" + std::to_string(best_k) + "), verify " +
                                     std::to_string(autos.verify_steps) + "/" + std::to_string(autos.steps) +
                                     ", lost " + std::to_string(autos.explore_lost * 1e3) + " ms of " +
                                     std::to_string(autos.seconds * 1e3) + " (case seed " + std::to_string(case_seed) + ")";
            if (ratio < 0.99 || std::getenv("HEARTH_TEST_VERBOSE")) std::printf("%s\n", what.c_str());
            QVERIFY2(ratio >= 0.98, what.c_str());
            // The net time lost against plain stays within its budget (+ the last step).
            QVERIFY2(autos.explore_lost <= SpecController::kLossShare * autos.seconds +
                                               SpecController::kLossAllowancePlainSteps * cc.cost(b, 0) + autos.max_step,
                     what.c_str());
            // Where speculation pays, auto finds it (a short run may spend its loss budget on
            // the way there: a verify step with a large fixed cost, stepping stones that lose).
            if (oracle / plain_exact > 1.15 && length == 4096) {
              ++paying_cases;
              const bool ok = ratio_all > 1.02 && autos.rate >= 0.75 * oracle;
              found += ok ? 1 : 0;
              if (!ok) std::printf("not found: %s\n", what.c_str());
              if (kNoise == 0) QVERIFY2(ok, what.c_str());
            }
          }
        }
      }
    }
    std::printf("%d cases, %d where speculation pays, found in %d\n", cases, paying_cases, found);
    QVERIFY(paying_cases > 20);
    QVERIFY2(found >= paying_cases * 85 / 100, "auto missed too many cases where speculation pays");
  }
};

QTEST_APPLESS_MAIN(TestSpecController)
#include "test_spec_controller.moc"
