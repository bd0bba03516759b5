// kernels/cpu/paged_attention against a float64 reference written here (dense causal GQA
// attention over positions gathered from the block tables): several sequences per call, mixed
// prefill and decode, permuted block tables, odd head sizes and block sizes, a poisoned output.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/paged_attention.h"

using namespace hearth::kernels;
using namespace hearth::kernels::cpu;

namespace {

struct Case {
  int64_t n_head, n_head_kv, head_dim, block_tokens, n_layer;
  std::vector<std::pair<int64_t, int64_t>> sequences;  // (n_past, n_tokens)
};

// Pool layout per block: [n_layer][2][n_kv_head][block_tokens][head_dim].
struct Pool {
  int64_t n_blocks, block_floats;
  std::vector<float> data;
};

// Keys of position p of kv head h, layer `layer`, through a sequence's table.
const float* kv_row(const Pool& pool, const Case& c, const std::vector<int32_t>& table, int64_t layer, int which,
                    int64_t h, int64_t p) {
  const int64_t block = table[p / c.block_tokens];
  const int64_t slab = ((layer * 2 + which) * c.n_head_kv + h) * c.block_tokens * c.head_dim;
  return pool.data.data() + block * pool.block_floats + slab + (p % c.block_tokens) * c.head_dim;
}

// out[t, head, :] = softmax_j(q·k_j * scale) v_j over j <= n_past + t, in float64.
std::vector<double> reference(const Pool& pool, const Case& c, const std::vector<int32_t>& table, int64_t layer,
                              const std::vector<float>& q, int64_t n_past, int64_t n_tokens) {
  const int64_t d = c.head_dim, group = c.n_head / c.n_head_kv;
  const double scale = 1.0 / std::sqrt(double(d));
  std::vector<double> out(size_t(n_tokens * c.n_head * d), 0.0);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t head = 0; head < c.n_head; ++head) {
      const int64_t kvh = head / group;
      const float* qr = q.data() + (t * c.n_head + head) * d;
      const int64_t visible = n_past + t + 1;
      std::vector<double> s(static_cast<size_t>(visible));
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < visible; ++j) {
        const float* k = kv_row(pool, c, table, layer, 0, kvh, j);
        double dot = 0;
        for (int64_t i = 0; i < d; ++i) dot += double(qr[i]) * k[i];
        s[j] = dot * scale;
        m = std::max(m, s[j]);
      }
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - m));
      double* o = out.data() + (t * c.n_head + head) * d;
      for (int64_t j = 0; j < visible; ++j) {
        const float* v = kv_row(pool, c, table, layer, 1, kvh, j);
        for (int64_t i = 0; i < d; ++i) o[i] += s[j] / sum * v[i];
      }
    }
  }
  return out;
}

}  // namespace

class TestPagedAttention : public QObject {
  Q_OBJECT

 private slots:
  void matches_float64_reference_data() {
    QTest::addColumn<int>("index");
    for (int i = 0; i < 6; ++i) QTest::addRow("case%d", i) << i;
  }

  void matches_float64_reference() {
    QFETCH(int, index);
    static const Case cases[] = {
        {8, 4, 8, 16, 2, {{0, 13}, {20, 1}, {5, 40}}},           // stories260K-like
        {32, 8, 64, 16, 1, {{0, 1}, {100, 1}, {33, 17}, {0, 9}}},  // llama-3.2-1b-like
        {6, 3, 13, 5, 3, {{7, 3}, {0, 23}, {11, 1}}},              // odd head size and block size
        {4, 4, 16, 1, 1, {{3, 4}, {0, 2}}},                        // one position per block, no GQA
        {12, 1, 20, 7, 2, {{14, 0}, {14, 6}, {0, 1}}},             // MQA, an empty sequence
        {8, 2, 128, 32, 1, {{200, 40}}},                           // long, several units per head
    };
    const Case& c = cases[index];
    const unsigned seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);

    // Pool big enough for every sequence's blocks, each sequence given a random set of blocks.
    int64_t total_blocks = 0;
    for (auto [n_past, n] : c.sequences) total_blocks += (n_past + n + c.block_tokens - 1) / c.block_tokens;
    Pool pool{total_blocks + 3, 2 * c.n_layer * c.n_head_kv * c.block_tokens * c.head_dim, {}};
    pool.data.resize(size_t(pool.n_blocks * pool.block_floats));
    for (auto& x : pool.data) x = 2.0f * normal(rng);
    std::vector<int32_t> ids(size_t(pool.n_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);

    const int64_t layer = c.n_layer - 1;
    ThreadPool threads(3);
    std::vector<std::vector<int32_t>> tables;
    std::vector<std::vector<float>> qs, outs;
    size_t next_block = 0;
    for (auto [n_past, n] : c.sequences) {
      const int64_t blocks = (n_past + n + c.block_tokens - 1) / c.block_tokens;
      tables.emplace_back(ids.begin() + next_block, ids.begin() + next_block + blocks);
      next_block += size_t(blocks);
      qs.emplace_back(size_t(n * c.n_head * c.head_dim));
      for (auto& x : qs.back()) x = normal(rng);
      outs.emplace_back(size_t(n * c.n_head * c.head_dim), std::numeric_limits<float>::quiet_NaN());
    }
    std::vector<PagedAttentionSequence> seqs;
    for (size_t i = 0; i < c.sequences.size(); ++i) {
      seqs.push_back({qs[i].data(), outs[i].data(), c.sequences[i].second, c.sequences[i].first, tables[i].data()});
    }
    PagedKvLayer kv{pool.data.data(), pool.block_floats, layer * 2 * c.n_head_kv * c.block_tokens * c.head_dim,
                    (layer * 2 + 1) * c.n_head_kv * c.block_tokens * c.head_dim, c.block_tokens};
    PagedAttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, 1.0f / std::sqrt(float(c.head_dim))};
    std::vector<SimdLevel> levels = {SimdLevel::kPortable};
    if (detect_simd_level() != SimdLevel::kPortable) levels.push_back(detect_simd_level());
    for (SimdLevel level : levels) {
      for (auto& out : outs) std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
      QVERIFY(paged_attention(kv, shape, seqs, threads, level) == KernelStatus::kOk);
      for (size_t i = 0; i < c.sequences.size(); ++i) {
        const auto ref = reference(pool, c, tables[i], layer, qs[i], c.sequences[i].first, c.sequences[i].second);
        double worst = 0;
        for (size_t j = 0; j < ref.size(); ++j) {
          const double err = std::abs(double(outs[i][j]) - ref[j]);
          worst = std::isnan(outs[i][j]) ? 1e9 : std::max(worst, err);
        }
        QVERIFY2(worst < 2e-5, qPrintable(QString("%1: sequence %2: max abs error %3 (seed %4)")
                                              .arg(simd_level_name(level)).arg(i).arg(worst).arg(seed)));
      }
      // Each sequence alone gives bit-identical rows (no dependence on the rest of the batch).
      for (size_t i = 0; i < c.sequences.size(); ++i) {
        std::vector<float> alone(outs[i].size(), std::numeric_limits<float>::quiet_NaN());
        PagedAttentionSequence one = seqs[i];
        one.out = alone.data();
        QVERIFY(paged_attention(kv, shape, {&one, 1}, threads, level) == KernelStatus::kOk);
        QVERIFY2(std::equal(alone.begin(), alone.end(), outs[i].begin()), "batched rows differ from the sequence alone");
      }
    }
  }

  void bad_shapes_are_reported() {
    ThreadPool threads(1);
    std::vector<float> pool(64, 0.0f);
    PagedKvLayer kv{pool.data(), 32, 0, 16, 2};
    QVERIFY(paged_attention(kv, {6, 4, 8, 1.0f}, {}, threads) == KernelStatus::kBadSize);  // 6 % 4 != 0
    QVERIFY(paged_attention(kv, {4, 4, 0, 1.0f}, {}, threads) == KernelStatus::kBadSize);
    kv.block_tokens = 0;
    QVERIFY(paged_attention(kv, {4, 4, 8, 1.0f}, {}, threads) == KernelStatus::kBadSize);
  }
};

QTEST_APPLESS_MAIN(TestPagedAttention)
#include "test_paged_attention.moc"
