// CPU attention and row ops against straightforward float64 implementations, fresh random
// inputs each run (seed printed; HEARTH_TEST_SEED reproduces), output buffers poisoned with NaN.
#include <QTest>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"

using namespace hearth::kernels::cpu;

namespace {

uint64_t test_seed() {
  if (const char* s = std::getenv("HEARTH_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

std::vector<float> random_vector(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Naive causal GQA attention in float64: softmax over explicit score vectors.
std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, const AttentionShape& s) {
  const int64_t kv_dim = s.n_head_kv * s.head_dim, group = s.n_head / s.n_head_kv;
  std::vector<double> out(static_cast<size_t>(s.n_tokens * s.n_head * s.head_dim));
  for (int64_t t = 0; t < s.n_tokens; ++t) {
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t kvh = h / group, n_vis = s.n_past + t + 1;
      std::vector<double> scores(static_cast<size_t>(n_vis));
      double mx = -1e300;
      for (int64_t j = 0; j < n_vis; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < s.head_dim; ++i) {
          dot += static_cast<double>(q[(t * s.n_head + h) * s.head_dim + i]) * k[j * kv_dim + kvh * s.head_dim + i];
        }
        scores[j] = dot * s.scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0;
      for (auto& x : scores) sum += (x = std::exp(x - mx));
      for (int64_t i = 0; i < s.head_dim; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < n_vis; ++j) acc += scores[j] / sum * v[j * kv_dim + kvh * s.head_dim + i];
        out[(t * s.n_head + h) * s.head_dim + i] = acc;
      }
    }
  }
  return out;
}

}  // namespace

class TestAttention : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    seed_ = test_seed();
    qInfo("seed %llu (set HEARTH_TEST_SEED to reproduce)", static_cast<unsigned long long>(seed_));
  }

  void attention_matches_float64() {
    std::mt19937_64 rng(seed_);
    struct Case { int64_t n_tokens, n_past, n_head, n_head_kv, head_dim; };
    const Case cases[] = {{1, 0, 1, 1, 8},   {1, 37, 8, 4, 8},   {5, 0, 8, 2, 16},  {7, 13, 32, 8, 64},
                          {3, 100, 14, 2, 64}, {16, 3, 16, 8, 128}, {1, 500, 4, 4, 32}};
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      for (const auto& c : cases) {
        AttentionShape s{c.n_tokens, c.n_past, c.n_head, c.n_head_kv, c.head_dim, 1.0f / std::sqrt(float(c.head_dim))};
        const int64_t total = c.n_past + c.n_tokens, kv_dim = c.n_head_kv * c.head_dim;
        auto q = random_vector(rng, size_t(c.n_tokens * c.n_head * c.head_dim), 2.0f);
        auto k = random_vector(rng, size_t(total * kv_dim), 2.0f);
        auto v = random_vector(rng, size_t(total * kv_dim));
        std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN());
        attention(q.data(), k.data(), v.data(), kv_dim, out.data(), s, pool);
        const auto ref = reference_attention(q, k, v, s);
        double worst = 0;
        for (size_t i = 0; i < out.size(); ++i) {
          QVERIFY2(std::isfinite(out[i]), "attention left an output unwritten");
          worst = std::max(worst, std::abs(out[i] - ref[i]));
        }
        QVERIFY2(worst < 2e-5, qPrintable(QString("max abs error %1 (tokens %2, past %3, heads %4/%5, dim %6, threads %7)")
                                              .arg(worst).arg(c.n_tokens).arg(c.n_past).arg(c.n_head)
                                              .arg(c.n_head_kv).arg(c.head_dim).arg(threads)));
      }
    }
  }

  void rms_norm_matches_float64() {
    std::mt19937_64 rng(seed_ + 1);
    for (int64_t n : {1, 8, 63, 2048}) {
      auto x = random_vector(rng, size_t(n), 3.0f), w = random_vector(rng, size_t(n));
      std::vector<float> y(size_t(n), std::numeric_limits<float>::quiet_NaN());
      rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
      double ss = 0;
      for (float v : x) ss += double(v) * v;
      const double inv = 1.0 / std::sqrt(ss / double(n) + 1e-5);
      for (int64_t i = 0; i < n; ++i) QVERIFY(std::abs(y[i] - x[i] * inv * w[i]) <= 1e-5 * (1 + std::abs(x[i] * inv * w[i])));
    }
  }

  void rope_rotates_the_right_pairs() {
    // One head of 8 with rope_dims 6: pairs (0,1),(2,3),(4,5) or (0,3),(1,4),(2,5); dims 6, 7 untouched.
    const float cs[6] = {std::cos(0.5f), std::sin(0.5f), std::cos(0.25f), std::sin(0.25f), 0.0f, 1.0f};
    for (bool halves : {false, true}) {
      float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      rope(x, 1, 8, 6, cs, halves);
      const int a[3] = {halves ? 0 : 0, halves ? 1 : 2, halves ? 2 : 4};
      const int b[3] = {halves ? 3 : 1, halves ? 4 : 3, halves ? 5 : 5};
      const float orig[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      for (int p = 0; p < 3; ++p) {
        const double c = cs[2 * p], s = cs[2 * p + 1];
        QVERIFY(std::abs(x[a[p]] - (orig[a[p]] * c - orig[b[p]] * s)) < 1e-6);
        QVERIFY(std::abs(x[b[p]] - (orig[a[p]] * s + orig[b[p]] * c)) < 1e-6);
      }
      QCOMPARE(x[6], 7.0f);
      QCOMPARE(x[7], 8.0f);
    }
  }

  void silu_mul_matches_definition() {
    std::mt19937_64 rng(seed_ + 2);
    auto a = random_vector(rng, 100, 4.0f), b = random_vector(rng, 100);
    auto expect = a;
    for (size_t i = 0; i < a.size(); ++i) expect[i] = float(double(a[i]) / (1 + std::exp(-double(a[i]))) * b[i]);
    silu_mul(a.data(), b.data(), 100);
    for (size_t i = 0; i < a.size(); ++i) QVERIFY(std::abs(a[i] - expect[i]) <= 1e-5f * (1 + std::abs(expect[i])));
  }

 private:
  uint64_t seed_ = 0;
};

QTEST_APPLESS_MAIN(TestAttention)
#include "test_attention.moc"
