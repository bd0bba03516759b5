// Tests of the sampler chain against independent double-precision computations written here
// (explicit sorts and loops, no shared code with sampler.cpp). Random inputs use a fresh seed per
// run, printed so a failure can be replayed (set HEARTH_TEST_SEED to reuse it).
#include <QTest>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/common/error.h"
#include "core/sampling/sampler.h"

using hearth::Sampler;
using hearth::SamplingParams;

namespace {

uint64_t fresh_seed(const char* what) {
  uint64_t seed = 0;
  if (const char* env = std::getenv("HEARTH_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  qInfo("%s: seed %llu", what, static_cast<unsigned long long>(seed));
  return seed;
}

std::vector<float> random_logits(std::mt19937_64& rng, int n, float scale = 3.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// Plain chain: everything off but temperature, so probabilities() must be softmax(logits / T).
SamplingParams plain(float temperature = 1.0f) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::vector<double> softmax(const std::vector<double>& logits, double temperature) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - mx) / temperature);
  for (auto& x : p) x /= sum;
  return p;
}

int argmax_lowest(const std::vector<float>& v) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(v.size()); ++i)
    if (v[static_cast<size_t>(i)] > v[static_cast<size_t>(best)]) best = i;
  return best;
}

std::set<int> support(const std::vector<float>& probs) {
  std::set<int> s;
  for (size_t i = 0; i < probs.size(); ++i)
    if (probs[i] > 0.0f) s.insert(static_cast<int>(i));
  return s;
}

// Logits whose softmax is exactly `probs`, placed at the given ids of a vocabulary of n.
std::vector<float> logits_for(const std::vector<double>& probs, const std::vector<int>& ids, int n) {
  std::vector<float> v(static_cast<size_t>(n), -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < probs.size(); ++i) v[static_cast<size_t>(ids[i])] = static_cast<float>(std::log(probs[i]));
  return v;
}

// Upper critical value of chi-square with df degrees of freedom at z standard deviations
// (Wilson-Hilferty approximation; z = 3.719 is a one-sided significance of 1e-4).
double chi_square_critical(int df, double z) {
  const double k = df;
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

}  // namespace

class TestSampler : public QObject {
  Q_OBJECT

 private slots:
  void greedy_is_argmax() {
    std::mt19937_64 rng(fresh_seed("greedy_is_argmax"));
    for (int trial = 0; trial < 50; ++trial) {
      const auto logits = random_logits(rng, 1000);
      Sampler s(plain(0.0f), 1000);
      QCOMPARE(s.sample(logits), argmax_lowest(logits));
      const auto probs = s.probabilities(logits);
      QCOMPARE(support(probs), std::set<int>{argmax_lowest(logits)});
    }
    // Ties go to the lowest id.
    std::vector<float> tied = {0.0f, 5.0f, 1.0f, 5.0f, 5.0f};
    Sampler s(plain(-1.0f), 5);
    QCOMPARE(s.sample(tied), 1);
  }

  void greedy_applies_penalties() {
    SamplingParams p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    Sampler s(p, 4);
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f};
    QCOMPARE(s.sample(logits), 1);
    s.accept(1);  // 3 / 2 = 1.5 < 2
    QCOMPARE(s.sample(logits), 2);
  }

  void same_seed_same_sequence() {
    std::mt19937_64 rng(fresh_seed("same_seed_same_sequence"));
    const auto logits = random_logits(rng, 500, 1.0f);
    SamplingParams p;
    p.seed = rng();
    p.temperature = 1.0f;
    Sampler a(p, 500), b(p, 500);
    std::vector<int> seq_a, seq_b;
    for (int i = 0; i < 200; ++i) {
      seq_a.push_back(a.sample(logits));
      seq_b.push_back(b.sample(logits));
    }
    QCOMPARE(seq_a, seq_b);
    a.reset();
    std::vector<int> again;
    for (int i = 0; i < 200; ++i) again.push_back(a.sample(logits));
    QVERIFY2(again == seq_a, "reset() must reseed");
  }

  void different_seeds_differ() {
    const std::vector<float> flat(64, 0.0f);  // uniform over 64 tokens
    SamplingParams p = plain(1.0f);
    p.seed = 1;
    Sampler a(p, 64);
    p.seed = 2;
    Sampler b(p, 64);
    int same = 0;
    for (int i = 0; i < 200; ++i) same += a.sample(flat) == b.sample(flat);
    QVERIFY2(same < 50, qPrintable(QString("%1 of 200 draws agree").arg(same)));
  }

  void top_k_1_equals_greedy() {
    std::mt19937_64 rng(fresh_seed("top_k_1_equals_greedy"));
    SamplingParams p;
    p.top_k = 1;
    p.temperature = 1.5f;
    p.seed = rng();
    Sampler s(p, 3000);
    for (int trial = 0; trial < 30; ++trial) {
      const auto logits = random_logits(rng, 3000);
      QCOMPARE(s.sample(logits), argmax_lowest(logits));
    }
  }

  void top_k_keeps_k_largest() {
    std::mt19937_64 rng(fresh_seed("top_k_keeps_k_largest"));
    const auto logits = random_logits(rng, 2000);
    SamplingParams p = plain(0.9f);
    p.top_k = 25;
    const auto probs = Sampler(p, 2000).probabilities(logits);
    std::vector<int> order(2000);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    QCOMPARE(support(probs), std::set<int>(order.begin(), order.begin() + 25));
    // Renormalised softmax over those 25 at T = 0.9.
    std::vector<double> top;
    for (int i = 0; i < 25; ++i) top.push_back(logits[static_cast<size_t>(order[static_cast<size_t>(i)])]);
    const auto want = softmax(top, 0.9);
    for (int i = 0; i < 25; ++i)
      QVERIFY(std::abs(probs[static_cast<size_t>(order[static_cast<size_t>(i)])] - want[static_cast<size_t>(i)]) < 1e-6);
  }

  void top_p_keeps_expected_set() {
    // p = 0.5, 0.2, 0.15, 0.1, 0.05 at scattered ids of a vocabulary of 10.
    const std::vector<double> probs = {0.5, 0.2, 0.15, 0.1, 0.05};
    const std::vector<int> ids = {7, 2, 9, 0, 4};
    const auto logits = logits_for(probs, ids, 10);
    SamplingParams p = plain(1.0f);
    p.top_p = 0.8f;  // 0.5 + 0.2 = 0.7 < 0.8 <= 0.85
    auto got = Sampler(p, 10).probabilities(logits);
    QCOMPARE(support(got), (std::set<int>{7, 2, 9}));
    QVERIFY(std::abs(got[7] - 0.5 / 0.85) < 1e-6);
    QVERIFY(std::abs(got[9] - 0.15 / 0.85) < 1e-6);
    p.top_p = 0.3f;  // the first token alone reaches it
    QCOMPARE(support(Sampler(p, 10).probabilities(logits)), std::set<int>{7});
    p.top_p = 0.0f;  // keeps at least one
    QCOMPARE(support(Sampler(p, 10).probabilities(logits)), std::set<int>{7});
    p.top_p = 0.97f;  // 0.95 < 0.97 <= 1.0: all five
    QCOMPARE(support(Sampler(p, 10).probabilities(logits)), (std::set<int>{7, 2, 9, 0, 4}));
  }

  void top_p_large_vocab_matches_full_sort() {
    // No top-k, so the nucleus is found among 50k tokens by the chunked sort.
    std::mt19937_64 rng(fresh_seed("top_p_large_vocab_matches_full_sort"));
    const int n = 50000;
    for (float top_p : {0.05f, 0.5f, 0.9f, 0.999f}) {
      const auto logits = random_logits(rng, n, 2.0f);
      SamplingParams p = plain(0.8f);
      p.top_p = top_p;
      const auto got = Sampler(p, n).probabilities(logits);
      const auto pr = softmax(std::vector<double>(logits.begin(), logits.end()), 0.8);
      std::vector<int> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return pr[a] != pr[b] ? pr[a] > pr[b] : a < b; });
      std::set<int> want;
      double cum = 0.0;
      for (int id : order) {
        want.insert(id);
        cum += pr[static_cast<size_t>(id)];
        if (cum >= top_p) break;
      }
      QVERIFY2(support(got) == want, qPrintable(QString("top_p %1: kept %2, want %3")
                                                   .arg(top_p).arg(support(got).size()).arg(want.size())));
    }
  }

  void min_p_keeps_expected_set() {
    const std::vector<double> probs = {0.4, 0.3, 0.2, 0.06, 0.04};
    const std::vector<int> ids = {3, 0, 5, 1, 2};
    const auto logits = logits_for(probs, ids, 6);
    SamplingParams p = plain(1.0f);
    p.min_p = 0.2f;  // threshold 0.08: drops 0.06 and 0.04
    auto got = Sampler(p, 6).probabilities(logits);
    QCOMPARE(support(got), (std::set<int>{3, 0, 5}));
    QVERIFY(std::abs(got[0] - 0.3 / 0.9) < 1e-6);
    p.min_p = 0.9f;  // only the max
    QCOMPARE(support(Sampler(p, 6).probabilities(logits)), std::set<int>{3});
    p.min_p = 0.12f;  // threshold 0.048: keeps 0.06
    QCOMPARE(support(Sampler(p, 6).probabilities(logits)), (std::set<int>{3, 0, 5, 1}));
  }

  void penalties_change_expected_logits() {
    const std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f, 3.0f, -0.5f};
    SamplingParams p = plain(1.0f);
    p.repeat_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_last_n = 4;
    Sampler s(p, 6);
    for (int t : {5, 0, 1, 1, 3}) s.accept(t);  // the window is {0, 1, 1, 3}; 5 fell out
    // Independent expectation per token: repeat (divide if > 0, else multiply), then
    // - count * frequency - presence.
    const std::vector<double> want_logits = {
        2.0 / 2 - 1 * 0.25 - 0.5,     // token 0: once
        -2.0 * 2 - 2 * 0.25 - 0.5,    // token 1: twice
        1.0,                          // untouched
        0.5 / 2 - 1 * 0.25 - 0.5,     // token 3: once
        3.0,                          // untouched
        -0.5,                         // token 5: outside the window
    };
    const auto want = softmax(want_logits, 1.0);
    const auto got = s.probabilities(logits);
    for (size_t i = 0; i < 6; ++i)
      QVERIFY2(std::abs(got[i] - want[i]) < 1e-6, qPrintable(QString("token %1: %2 vs %3").arg(i).arg(got[i]).arg(want[i])));

    // penalty_last_n = 0 turns them off; reset() clears the history.
    SamplingParams off = p;
    off.penalty_last_n = 0;
    Sampler s_off(off, 6);
    s_off.accept(4);
    const auto base = softmax(std::vector<double>(logits.begin(), logits.end()), 1.0);
    QVERIFY(std::abs(s_off.probabilities(logits)[4] - base[4]) < 1e-6);
    s.reset();
    QVERIFY(std::abs(s.probabilities(logits)[1] - base[1]) < 1e-6);
  }

  void empirical_frequencies_match_probabilities() {
    const uint64_t seed = fresh_seed("empirical_frequencies_match_probabilities");
    std::mt19937_64 rng(seed);
    const int n = 40;
    const auto logits = random_logits(rng, n, 1.5f);
    SamplingParams p;
    p.temperature = 0.9f;
    p.top_k = 20;
    p.top_p = 0.95f;
    p.min_p = 0.02f;
    p.seed = rng();
    Sampler s(p, n);
    const auto probs = s.probabilities(logits);
    const int draws = 200000;
    std::vector<int> counts(static_cast<size_t>(n), 0);
    for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(s.sample(logits))];
    double chi2 = 0.0;
    int cells = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
      if (probs[i] == 0.0f) {
        QVERIFY2(counts[i] == 0, "a token outside the kept set was drawn");
        continue;
      }
      const double expected = draws * static_cast<double>(probs[i]);
      chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
      ++cells;
    }
    QVERIFY(cells >= 2);
    const double critical = chi_square_critical(cells - 1, 3.719);  // significance 1e-4
    qInfo("chi-square %.2f with %d degrees of freedom, critical %.2f", chi2, cells - 1, critical);
    QVERIFY2(chi2 < critical, qPrintable(QString("chi-square %1 >= %2").arg(chi2).arg(critical)));
  }

  void temperature_sharpens() {
    std::mt19937_64 rng(fresh_seed("temperature_sharpens"));
    // Unit-scale logits keep p_max well below 1.0f even at T = 0.25, so "strictly sharper"
    // is visible in float.
    const auto logits = random_logits(rng, 300, 1.0f);
    double prev_max = 0.0, prev_entropy = 1e300;
    for (float t : {4.0f, 2.0f, 1.0f, 0.5f, 0.25f}) {
      const auto probs = Sampler(plain(t), 300).probabilities(logits);
      const double mx = *std::max_element(probs.begin(), probs.end());
      double entropy = 0.0;
      for (float q : probs)
        if (q > 0) entropy -= q * std::log(static_cast<double>(q));
      QVERIFY2(mx > prev_max && entropy < prev_entropy, qPrintable(QString("T %1").arg(t)));
      const auto want = softmax(std::vector<double>(logits.begin(), logits.end()), t);
      QVERIFY(std::abs(mx - *std::max_element(want.begin(), want.end())) < 1e-6);
      prev_max = mx;
      prev_entropy = entropy;
    }
  }

  void nan_and_inf_logits() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> logits = {1.0f, nan, 0.5f, nan, 2.0f};
    Sampler greedy(plain(0.0f), 5);
    QCOMPARE(greedy.sample(logits), 4);
    SamplingParams p = plain(1.0f);
    Sampler s(p, 5);
    const auto probs = s.probabilities(logits);
    QCOMPARE(probs[1], 0.0f);
    QCOMPARE(probs[3], 0.0f);
    for (int i = 0; i < 2000; ++i) {
      const int t = s.sample(logits);
      QVERIFY(t != 1 && t != 3);
    }
    // +inf wins outright; two of them are equally likely.
    logits = {1.0f, inf, 0.5f, inf, nan};
    QCOMPARE(greedy.sample(logits), 1);
    const auto inf_probs = s.probabilities(logits);
    QCOMPARE(inf_probs[1], 0.5f);
    QCOMPARE(inf_probs[3], 0.5f);
    // Nothing to choose from: a clear error, not a made-up token.
    const std::vector<float> dead = {nan, -inf, nan};
    Sampler s3(p, 3), g3(plain(0.0f), 3);
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s3.sample(dead));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, g3.sample(dead));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s3.probabilities(dead));
  }

  void bad_sizes_and_tokens_throw() {
    Sampler s(SamplingParams{}, 10);
    const std::vector<float> short_logits(9, 0.0f);
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s.sample(short_logits));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s.probabilities(short_logits));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s.accept(10));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s.accept(-1));
    QVERIFY_THROWS_EXCEPTION(hearth::Error, Sampler(SamplingParams{}, 0));
    SamplingParams bad;
    bad.repeat_penalty = 0.0f;
    QVERIFY_THROWS_EXCEPTION(hearth::Error, Sampler(bad, 10));
  }

  // The sampler never copies the row (penalties are an overlay, top-k skips blocks of values
  // below its worst kept one): its kept set and probabilities must equal a naive float64 chain
  // over a penalised copy, with NaN and infinities sprinkled in, vocabularies that are not
  // multiples of the block size, and random histories and parameters.
  void fast_paths_match_naive_chain() {
    std::mt19937_64 rng(fresh_seed("fast_paths_match_naive_chain"));
    const float inf = std::numeric_limits<float>::infinity();
    for (int trial = 0; trial < 300; ++trial) {
      const int n = std::uniform_int_distribution<int>(1, 3000)(rng);
      auto logits = random_logits(rng, n);
      const int specials = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int k = 0; k < specials; ++k) {
        const float pick[] = {std::nanf(""), -inf, inf, 1e4f};
        logits[rng() % static_cast<size_t>(n)] = pick[rng() % (trial % 3 == 0 ? 4 : 2)];
      }
      SamplingParams p;
      p.temperature = (rng() % 4 == 0) ? 0.0f : 0.7f;
      const int ks[] = {0, 1, 5, 40};
      p.top_k = ks[rng() % 4];
      p.top_p = (rng() % 2) ? 1.0f : 0.9f;
      p.min_p = (rng() % 2) ? 0.0f : 0.05f;
      p.repeat_penalty = (rng() % 2) ? 1.0f : 1.3f;
      p.presence_penalty = (rng() % 3 == 0) ? 0.5f : 0.0f;
      p.penalty_last_n = (rng() % 4 == 0) ? -1 : 16;
      Sampler s(p, n);
      std::vector<int> history;
      const int h = std::uniform_int_distribution<int>(0, 40)(rng);
      for (int k = 0; k < h; ++k) {
        history.push_back(static_cast<int>(rng() % static_cast<size_t>(n)));
        s.accept(history.back());
      }
      // The naive chain: penalise a copy, then every filter by full sorts in float64.
      std::vector<double> w(logits.begin(), logits.end());
      for (auto& x : w) x = std::isnan(x) ? -HUGE_VAL : x;
      const bool any_penalty = p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f;
      if (any_penalty && !history.empty()) {
        const size_t window = p.penalty_last_n < 0 ? history.size() : std::min<size_t>(history.size(), 16);
        std::set<int> distinct(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
        for (int t : distinct) {
          float v = logits[static_cast<size_t>(t)];
          if (!std::isfinite(v)) continue;
          v = v > 0.0f ? v / p.repeat_penalty : v * p.repeat_penalty;
          v -= p.presence_penalty;
          w[static_cast<size_t>(t)] = v;
        }
      }
      std::vector<int> ids;
      const bool pos_inf = std::any_of(w.begin(), w.end(), [](double x) { return x == HUGE_VAL; });
      for (int i = 0; i < n; ++i) {
        const double x = w[static_cast<size_t>(i)];
        if (pos_inf ? x == HUGE_VAL : std::isfinite(x)) ids.push_back(i);
      }
      if (ids.empty()) {
        QVERIFY_THROWS_EXCEPTION(hearth::Error, s.probabilities(logits));
        continue;
      }
      auto by_value = [&](int a, int b) { return w[static_cast<size_t>(a)] != w[static_cast<size_t>(b)] ? w[static_cast<size_t>(a)] > w[static_cast<size_t>(b)] : a < b; };
      std::sort(ids.begin(), ids.end(), by_value);
      std::map<int, double> expected;
      if (p.temperature <= 0.0f) {
        expected[ids[0]] = 1.0;
      } else {
        if (p.top_k > 0 && ids.size() > static_cast<size_t>(p.top_k)) ids.resize(static_cast<size_t>(p.top_k));
        std::vector<double> lg;
        for (int i : ids) lg.push_back(pos_inf ? 0.0 : w[static_cast<size_t>(i)]);
        std::vector<double> pr = softmax(lg, p.temperature);
        const double pmax = *std::max_element(pr.begin(), pr.end());
        std::vector<std::pair<int, double>> kept;
        for (size_t i = 0; i < ids.size(); ++i) {
          if (p.min_p > 0 && pr[i] < std::min(static_cast<double>(p.min_p) * pmax, pmax)) continue;
          kept.emplace_back(ids[i], pr[i]);
        }
        if (p.top_p < 1.0f) {
          std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
          double cum = 0;
          size_t keep = kept.size();
          for (size_t i = 0; i < kept.size(); ++i) {
            cum += kept[i].second;
            if (cum >= p.top_p) {
              keep = i + 1;
              break;
            }
          }
          kept.resize(keep);
        }
        double sum = 0;
        for (const auto& [id, q] : kept) sum += q;
        for (const auto& [id, q] : kept) expected[id] = q / sum;
      }
      const std::vector<float> got = s.probabilities(logits);
      const std::string what = "trial " + std::to_string(trial) + ", n " + std::to_string(n);
      size_t nonzero = 0;  // a kept token can underflow to probability 0 (a logit far below the best)
      for (const auto& [id, q] : expected) nonzero += static_cast<float>(q) > 0.0f ? 1 : 0;
      QCOMPARE(support(got).size(), nonzero);
      for (const auto& [id, q] : expected) QVERIFY2(std::abs(got[static_cast<size_t>(id)] - q) < 1e-5, what.c_str());
      if (p.temperature <= 0.0f) QCOMPARE(s.sample(logits), expected.begin()->first);
    }
  }

  void large_vocab_speed() {
    // Not a benchmark: shows the cost at a Qwen-sized vocabulary with the default chain.
    std::mt19937_64 rng(fresh_seed("large_vocab_speed"));
    const int n = 151936;
    const auto logits = random_logits(rng, n);
    SamplingParams p;
    p.repeat_penalty = 1.1f;
    Sampler s(p, n);
    for (int i = 0; i < 64; ++i) s.accept(static_cast<int32_t>(rng() % n));
    const auto start = std::chrono::steady_clock::now();
    const int reps = 20;
    for (int i = 0; i < reps; ++i) QVERIFY(s.sample(logits) >= 0);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    qInfo("vocab %d, default chain: %.3f ms per sample", n, ms / reps);
  }

  // [host5] select_top_logits against a full sort written here: NaN dropped, value descending,
  // id ascending; padding {-1, NaN} past the non-NaN entries. Rows with ties, +-inf and NaN.
  void best_entries_match_full_sort() {
    std::mt19937_64 rng(fresh_seed("best_entries_match_full_sort"));
    for (int trial = 0; trial < 300; ++trial) {
      const int n = std::uniform_int_distribution<int>(1, 3000)(rng);
      std::vector<float> row = random_logits(rng, n);
      const int special = std::uniform_int_distribution<int>(0, 3)(rng);
      for (auto& v : row) {
        const int r = std::uniform_int_distribution<int>(0, 99)(rng);
        if (special >= 1 && r < 10) v = std::round(v);  // many ties
        if (special >= 2 && r == 10) v = std::numeric_limits<float>::quiet_NaN();
        if (special >= 2 && r == 11) v = -std::numeric_limits<float>::infinity();
        if (special == 3 && r == 12) v = std::numeric_limits<float>::infinity();
      }
      if (trial % 17 == 0) std::fill(row.begin(), row.end(), std::numeric_limits<float>::quiet_NaN());
      const int k = std::uniform_int_distribution<int>(1, 80)(rng);
      std::vector<std::pair<float, int>> ref;
      for (int i = 0; i < n; ++i) {
        if (!std::isnan(row[static_cast<size_t>(i)])) ref.emplace_back(row[static_cast<size_t>(i)], i);
      }
      std::sort(ref.begin(), ref.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
      std::vector<hearth::LogitCandidate> got(static_cast<size_t>(k), hearth::LogitCandidate{12345, 1.0f});
      hearth::select_top_logits(row, got);
      for (int i = 0; i < k; ++i) {
        const auto& g = got[static_cast<size_t>(i)];
        if (i < static_cast<int>(ref.size())) {
          QVERIFY2(g.id == ref[static_cast<size_t>(i)].second && g.logit == ref[static_cast<size_t>(i)].first,
                   qPrintable(QString("trial %1 entry %2: got (%3, %4), expected (%5, %6)").arg(trial).arg(i).arg(g.id).arg(g.logit)
                                  .arg(ref[static_cast<size_t>(i)].second).arg(ref[static_cast<size_t>(i)].first)));
        } else {
          QCOMPARE(g.id, -1);
          QVERIFY(std::isnan(g.logit));
        }
      }
    }
  }

  // [host5] A sampler fed only a row's best entries draws exactly the tokens (and uses the random
  // stream exactly as) a sampler of the same seed fed the whole row: greedy and top-k chains with
  // top-p / min-p / temperature, over rows with ties and special values, many draws in a row.
  void best_entries_draw_like_whole_rows() {
    std::mt19937_64 rng(fresh_seed("best_entries_draw_like_whole_rows"));
    for (int trial = 0; trial < 60; ++trial) {
      SamplingParams p;
      p.temperature = trial % 5 == 0 ? 0.0f : std::uniform_real_distribution<float>(0.2f, 2.0f)(rng);
      p.top_k = std::uniform_int_distribution<int>(1, 64)(rng);
      p.top_p = trial % 3 == 0 ? 1.0f : std::uniform_real_distribution<float>(0.3f, 1.0f)(rng);
      p.min_p = trial % 4 == 0 ? 0.0f : std::uniform_real_distribution<float>(0.0f, 0.3f)(rng);
      p.seed = rng();
      const int n = std::uniform_int_distribution<int>(2, 5000)(rng);
      Sampler whole(p, n), reduced(p, n);
      const int32_t k = reduced.candidates_needed(64);
      QCOMPARE(k, p.temperature <= 0 ? 1 : p.top_k);
      QCOMPARE(reduced.candidates_needed(p.top_k - 1), p.temperature <= 0 ? (p.top_k - 1 >= 1 ? 1 : 0) : 0);
      for (int draw = 0; draw < 40; ++draw) {
        std::vector<float> row = random_logits(rng, n, std::uniform_real_distribution<float>(0.1f, 6.0f)(rng));
        for (auto& v : row) {
          const int r = std::uniform_int_distribution<int>(0, 999)(rng);
          if (r < 50) v = std::round(v);
          if (r == 50) v = std::numeric_limits<float>::quiet_NaN();
          if (r == 51) v = -std::numeric_limits<float>::infinity();
          if (r == 52 && trial % 7 == 0) v = std::numeric_limits<float>::infinity();
        }
        // Extra entries past k must not matter: give k + 3 sometimes.
        const int given = k + (draw % 2 == 0 ? 0 : 3);
        std::vector<hearth::LogitCandidate> best(static_cast<size_t>(given));
        hearth::select_top_logits(row, best);
        const int32_t a = whole.sample(row);
        const int32_t b = reduced.sample_best(best);
        QVERIFY2(a == b, qPrintable(QString("trial %1 draw %2: whole row %3, best entries %4").arg(trial).arg(draw).arg(a).arg(b)));
        whole.accept(a);
        reduced.accept(b);
      }
    }
  }

  // [host5] Penalties need the whole row (they can lift a token from outside the best k); top-k
  // off or above the limit too. Too few entries is an error, not a wrong draw.
  void best_entries_need_the_row_with_penalties() {
    SamplingParams p;
    p.temperature = 0;
    p.repeat_penalty = 1.3f;
    Sampler s(p, 100);
    QCOMPARE(s.candidates_needed(64), 1);  // no history yet: nothing to penalise
    s.accept(5);
    QCOMPARE(s.candidates_needed(64), 0);
    std::vector<hearth::LogitCandidate> best(1);
    hearth::select_top_logits(std::vector<float>(100, 1.0f), best);
    QVERIFY_THROWS_EXCEPTION(hearth::Error, s.sample_best(best));
    SamplingParams q;
    q.top_k = 0;
    QCOMPARE(Sampler(q, 100).candidates_needed(64), 0);
    q.top_k = 65;
    QCOMPARE(Sampler(q, 100).candidates_needed(64), 0);
    q.top_k = 40;
    Sampler t(q, 100);
    QCOMPARE(t.candidates_needed(64), 40);
    std::vector<hearth::LogitCandidate> few(39);
    QVERIFY_THROWS_EXCEPTION(hearth::Error, t.sample_best(few));
    SamplingParams g;
    g.temperature = 0;
    Sampler all_nan(g, 4);
    std::vector<hearth::LogitCandidate> none(1);
    hearth::select_top_logits(std::vector<float>(4, std::numeric_limits<float>::quiet_NaN()), none);
    QVERIFY_THROWS_EXCEPTION(hearth::Error, all_nan.sample_best(none));
  }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "test_sampler.moc"
