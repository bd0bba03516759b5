// The CPU backend's paged, batched interface (Backend::forward_batch and the KV block calls) on
// the bundled stories260K model, checked against the single-sequence path run alone:
// - several sequences in one batch (different lengths and n_past, prefill and decode rows mixed,
//   some spanning max_batch chunks) give the logits of each sequence run alone;
// - scattered, permuted block tables give the logits of blocks 0, 1, 2, ...;
// - a block read out and written elsewhere, or copied, serves later tokens identically;
// - chunked prefill through forward_batch equals one shot; other block sizes agree;
// - bad batches throw hearth::Error and leave the backend working.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"

using namespace hearth;

namespace {

const char* kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

// Largest |a - b| relative to the largest |b|.
double max_rel_diff(const float* a, const float* b, int64_t n) {
  double worst = 0, scale = 1e-6;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, double(std::abs(b[i])));
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]) / scale);
  return worst;
}

std::vector<TokenId> random_tokens(std::mt19937& rng, int64_t n, int64_t n_vocab) {
  std::uniform_int_distribution<TokenId> dist(1, TokenId(n_vocab - 1));
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (auto& x : t) x = dist(rng);
  return t;
}

std::vector<int32_t> iota_table(int64_t n, int32_t first = 0) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

SequenceSlice slice(std::span<const TokenId> tokens, int64_t n_past, std::span<const int32_t> table, int64_t n_logits) {
  SequenceSlice s;
  s.tokens = tokens;
  s.n_past = n_past;
  s.block_table = table;
  s.n_logits = n_logits;
  return s;
}

// Tolerance between a sequence run inside a batch and alone. The attention kernel makes rows
// independent (bitwise); the matrix products may group rows differently for different batch
// shapes, so allow float32 rounding.
constexpr double kBatchTolerance = 1e-5;

}  // namespace

class TestCpuPaged : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    file_ = std::make_unique<gguf::GgufFile>(gguf::GgufFile::open(kModel));
    config_ = ModelConfig::from_gguf(*file_);
    weights_ = ModelWeights::from_gguf(*file_, config_);
    seed_ = std::random_device{}();
    qInfo("seed %u", seed_);
  }

  void geometry_and_pool_size() {
    CpuBackend a(config_, weights_, {.n_threads = 1, .context_size = 100});
    const KvGeometry g = a.kv_geometry();
    QCOMPARE(g.n_layer, config_.n_layer);
    QCOMPARE(g.n_kv_head, config_.n_head_kv);
    QCOMPARE(g.head_dim, config_.head_dim);
    QCOMPARE(g.block_tokens, int64_t(16));
    QVERIFY(g.dtype == DType::F32);
    QCOMPARE(a.kv_block_count(), int64_t(7));  // ceil(100 / 16)
    CpuBackend b(config_, weights_, {.n_threads = 1, .context_size = 100, .kv_blocks = 40, .kv_block_tokens = 5});
    QCOMPARE(b.kv_block_count(), int64_t(40));
    QCOMPARE(b.kv_geometry().block_tokens, int64_t(5));
    QVERIFY_THROWS_EXCEPTION(Error, CpuBackend(config_, weights_, {.n_threads = 1, .kv_block_tokens = 0}));
  }

  // Sequences of different lengths and histories in one forward_batch equal each run alone.
  void batch_equals_sequences_alone_data() {
    QTest::addColumn<int>("max_batch");
    QTest::addRow("one chunk") << 512;
    QTest::addRow("chunks of 7 rows") << 7;
    QTest::addRow("one row per chunk") << 1;
  }
  void batch_equals_sequences_alone() {
    QFETCH(int, max_batch);
    std::mt19937 rng(seed_);
    const int64_t V = config_.n_vocab;
    struct Spec {
      int64_t n_past, n_new, n_logits;
    };
    // Prefill from scratch, decode after a history, prefill continuing a history, one-token
    // prompt, a sequence with no new tokens, decode crossing into a new block.
    const std::vector<Spec> specs = {{0, 21, 21}, {37, 1, 1}, {18, 9, 3}, {0, 1, 1}, {5, 0, 0}, {16, 1, 1}, {47, 2, 0}};
    std::vector<std::vector<TokenId>> history, fresh;
    for (const auto& s : specs) {
      history.push_back(random_tokens(rng, s.n_past, V));
      fresh.push_back(random_tokens(rng, s.n_new, V));
    }

    // Alone: the single-sequence path, history then the new tokens with all logits.
    std::vector<std::vector<float>> alone;
    for (size_t i = 0; i < specs.size(); ++i) {
      CpuBackend b(config_, weights_, {.n_threads = 2, .context_size = 64});
      std::vector<float> logits;
      if (!history[i].empty()) b.forward({history[i], false}, logits);
      if (fresh[i].empty()) {
        alone.emplace_back();
        continue;
      }
      b.forward({fresh[i], true}, logits);
      const int64_t n = specs[i].n_new, k = specs[i].n_logits;
      alone.emplace_back(logits.begin() + (n - k) * V, logits.end());
    }

    // Together: histories written first (also batched), then one batch of all new tokens.
    CpuBackend b(config_, weights_, {.n_threads = 3, .context_size = 64, .max_batch = max_batch, .kv_blocks = 40});
    std::vector<std::vector<int32_t>> tables;
    int32_t next = 0;
    for (const auto& s : specs) {
      const int64_t blocks = b.kv_geometry().blocks_for(s.n_past + s.n_new);
      tables.push_back(iota_table(blocks, next));
      next += int32_t(blocks);
    }
    std::vector<SequenceSlice> batch;
    for (size_t i = 0; i < specs.size(); ++i) batch.push_back(slice(history[i], 0, tables[i], 0));
    std::vector<float> logits;
    b.forward_batch(batch, logits);
    QVERIFY(logits.empty());
    batch.clear();
    for (size_t i = 0; i < specs.size(); ++i) batch.push_back(slice(fresh[i], specs[i].n_past, tables[i], specs[i].n_logits));
    b.forward_batch(batch, logits);

    int64_t row = 0;
    bool bitwise = true;
    for (size_t i = 0; i < specs.size(); ++i) {
      const int64_t k = specs[i].n_logits;
      QCOMPARE(int64_t(alone[i].size()), k * V);
      QVERIFY(int64_t(logits.size()) >= (row + k) * V);
      for (int64_t r = 0; r < k; ++r) {
        const float* got = logits.data() + (row + r) * V;
        const float* want = alone[i].data() + r * V;
        const double diff = max_rel_diff(got, want, V);
        bitwise = bitwise && std::equal(got, got + V, want);
        QVERIFY2(diff < kBatchTolerance,
                 qPrintable(QString("sequence %1 logit row %2: relative difference %3 (seed %4)").arg(i).arg(r).arg(diff).arg(seed_)));
      }
      row += k;
    }
    QCOMPARE(int64_t(logits.size()), row * V);
    qInfo("batched logits %s the sequences alone", bitwise ? "bitwise equal" : "within tolerance of");
  }

  // Non-contiguous, permuted tables compute exactly what blocks 0, 1, 2, ... do.
  void scattered_blocks_equal_contiguous() {
    std::mt19937 rng(seed_ + 1);
    const auto prompt = random_tokens(rng, 45, config_.n_vocab);
    const auto next = random_tokens(rng, 6, config_.n_vocab);
    const std::vector<int32_t> contiguous = iota_table(4);
    const std::vector<int32_t> scattered = {13, 2, 9, 6};
    std::vector<std::vector<float>> results;
    for (const auto* table : {&contiguous, &scattered}) {
      CpuBackend b(config_, weights_, {.n_threads = 2, .context_size = 64, .kv_blocks = 16});
      std::vector<float> all, logits;
      SequenceSlice s = slice(prompt, 0, *table, 45);
      b.forward_batch({&s, 1}, logits);
      all = logits;
      for (int64_t i = 0; i < 6; ++i) {  // decode steps, the third crossing into the fourth block
        s = slice(std::span(next).subspan(size_t(i), 1), 45 + i, *table, 1);
        b.forward_batch({&s, 1}, logits);
        all.insert(all.end(), logits.begin(), logits.end());
      }
      results.push_back(all);
    }
    QCOMPARE(results[0].size(), size_t(51 * config_.n_vocab));
    QVERIFY2(results[0] == results[1], "scattered blocks changed the logits");
  }

  // read_kv_block -> write_kv_block elsewhere, and copy_kv_block, carry a sequence's history.
  void moved_blocks_serve_identical_logits() {
    std::mt19937 rng(seed_ + 2);
    const auto prompt = random_tokens(rng, 40, config_.n_vocab);  // 2.5 blocks
    const auto next = random_tokens(rng, 3, config_.n_vocab);
    CpuBackend b(config_, weights_, {.n_threads = 2, .context_size = 64, .kv_blocks = 12});
    const std::vector<int32_t> original = {3, 4, 5}, written = {10, 8, 11}, copied = {0, 1, 2};
    std::vector<float> logits;
    SequenceSlice s = slice(prompt, 0, original, 0);
    b.forward_batch({&s, 1}, logits);

    const KvGeometry g = b.kv_geometry();
    std::vector<std::byte> bytes(size_t(g.block_bytes()));
    for (size_t i = 0; i < 3; ++i) {
      b.read_kv_block(original[i], bytes);
      b.write_kv_block(written[i], bytes);
      b.copy_kv_block(original[i], copied[i]);
    }
    std::vector<std::vector<float>> results;
    for (const auto* table : {&original, &written, &copied}) {
      s = slice(next, 40, *table, 3);
      b.forward_batch({&s, 1}, logits);
      results.push_back(logits);
    }
    QVERIFY2(results[1] == results[0], "blocks moved through read/write_kv_block give other logits");
    QVERIFY2(results[2] == results[0], "blocks copied with copy_kv_block give other logits");

    // Five tokens into a fresh pool: slots 5..15 of every (layer, K/V, head) slab of their block
    // were never written and are still zero, slots 0..4 are not: the slot axis is where
    // kv_geometry.h says ([n_layer][2][n_kv_head][block_tokens][head_dim]).
    CpuBackend fresh(config_, weights_, {.n_threads = 1, .context_size = 64, .kv_blocks = 4});
    const std::vector<int32_t> table = {2};
    const auto five = random_tokens(rng, 5, config_.n_vocab);
    s = slice(five, 0, table, 1);
    fresh.forward_batch({&s, 1}, logits);
    fresh.read_kv_block(2, bytes);
    const float* f = reinterpret_cast<const float*>(bytes.data());
    const int64_t slabs = g.n_layer * 2 * g.n_kv_head;
    for (int64_t slab = 0; slab < slabs; ++slab) {
      for (int64_t slot = 0; slot < g.block_tokens; ++slot) {
        const float* row = f + (slab * g.block_tokens + slot) * g.head_dim;
        const bool zero = std::all_of(row, row + g.head_dim, [](float x) { return x == 0.0f; });
        QVERIFY2(zero == (slot >= 5), qPrintable(QString("slab %1 slot %2").arg(slab).arg(slot)));
      }
    }
    // A wrong-sized buffer is an error.
    std::vector<std::byte> small(bytes.size() - 4);
    QVERIFY_THROWS_EXCEPTION(Error, fresh.read_kv_block(2, small));
    QVERIFY_THROWS_EXCEPTION(Error, fresh.write_kv_block(2, small));
  }

  // Prefill in pieces through forward_batch (boundaries inside blocks) equals one shot, and
  // other block sizes compute the same logits.
  void chunked_prefill_and_block_sizes() {
    std::mt19937 rng(seed_ + 3);
    const int64_t n = 50, V = config_.n_vocab;
    const auto prompt = random_tokens(rng, n, V);
    std::vector<float> one_shot;
    {
      CpuBackend b(config_, weights_, {.n_threads = 2, .context_size = 64});
      const auto table = iota_table(4);
      SequenceSlice s = slice(prompt, 0, table, n);
      b.forward_batch({&s, 1}, one_shot);
    }
    for (int64_t block_tokens : {16, 5, 1, 64}) {
      CpuBackend b(config_, weights_, {.n_threads = 2, .context_size = 64, .kv_block_tokens = block_tokens});
      std::vector<int32_t> table = iota_table(b.kv_block_count());
      std::reverse(table.begin(), table.end());
      std::vector<float> all, logits;
      for (int64_t start = 0; start < n;) {
        const int64_t len = std::min<int64_t>(n - start, start % 3 == 0 ? 11 : 7);
        SequenceSlice s = slice(std::span(prompt).subspan(size_t(start), size_t(len)), start, table, len);
        b.forward_batch({&s, 1}, logits);
        all.insert(all.end(), logits.begin(), logits.end());
        start += len;
      }
      QCOMPARE(all.size(), one_shot.size());
      const double diff = max_rel_diff(all.data(), one_shot.data(), n * V);
      QVERIFY2(diff < 1e-4, qPrintable(QString("block size %1: relative difference %2").arg(block_tokens).arg(diff)));
    }
  }

  // Bad batches are rejected before anything is written; the backend works afterwards.
  void errors_leave_the_backend_usable() {
    const int64_t V = config_.n_vocab;
    CpuBackend b(config_, weights_, {.n_threads = 2, .context_size = 40, .kv_blocks = 8});
    const std::vector<TokenId> prompt = {1, 403, 407, 261, 378, 11, 200, 300, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53};
    const std::vector<int32_t> table_a = {5, 1}, table_b = {2, 3};
    std::vector<float> logits, expected;
    SequenceSlice a = slice(prompt, 0, table_a, 1);
    SequenceSlice c = slice(prompt, 0, table_b, 1);
    b.forward_batch({&a, 1}, expected);
    b.forward_batch({&c, 1}, logits);
    QCOMPARE(logits, expected);

    const std::vector<TokenId> one = {7}, two = {7, 8}, bad_token = {7, TokenId(V)};
    const std::vector<int32_t> out_of_pool = {5, 8}, negative = {5, -1}, short_table = {5}, repeated = {5, 5};
    const std::vector<int32_t> table_c = {6}, table_long = {5, 1, 2}, table_b_again = {2, 3};
    auto expect_error = [&](std::vector<SequenceSlice> batch, const char* what) {
      std::vector<float> out;
      bool threw = false;
      try {
        b.forward_batch(batch, out);
      } catch (const Error& e) {
        threw = true;
        qInfo("%s: %s", what, e.what());
      }
      QVERIFY2(threw, what);
    };
    expect_error({slice(one, 18, out_of_pool, 1)}, "block id outside the pool");
    expect_error({slice(one, 18, negative, 1)}, "negative block id");
    expect_error({slice(one, 18, short_table, 1)}, "table too short");
    expect_error({slice(two, 39, table_long, 1)}, "context overflow");
    expect_error({slice(one, -1, table_a, 1)}, "negative n_past");
    expect_error({slice(one, 18, table_a, 2)}, "n_logits above the tokens");
    expect_error({slice(one, 18, table_a, -1)}, "negative n_logits");
    expect_error({slice(bad_token, 18, table_a, 1)}, "token outside the vocabulary");
    expect_error({slice(one, 18, table_a, 1), slice(one, 18, table_a, 1)}, "two sequences writing one block");
    expect_error({slice(one, 18, table_a, 1), slice(one, 0, {table_a.data() + 1, 1}, 1)},
                 "a block written by one sequence and another");
    expect_error({slice(one, 16, table_b, 1), slice(one, 18, table_b_again, 1)},
                 "two sequences writing one block (same ids in other tables)");
    expect_error({slice(one, 18, repeated, 1)}, "one table naming a written block twice");
    expect_error({slice(one, 0, table_c, 1), slice(one, 18, {table_c.data(), 1}, 1)}, "table too short beside a valid one");
    QVERIFY_THROWS_EXCEPTION(Error, b.copy_kv_block(0, 8));
    QVERIFY_THROWS_EXCEPTION(Error, b.copy_kv_block(-1, 0));

    // Reading a shared, fully written prefix block is fine: two sequences over block 5 (positions
    // 0..15), each writing its own second block.
    const std::vector<int32_t> shared_a = {5, 6}, shared_b = {5, 7};
    std::vector<SequenceSlice> batch = {slice(std::span(prompt).subspan(16), 16, shared_a, 1),
                                        slice(std::span(prompt).subspan(16), 16, shared_b, 1)};
    b.forward_batch(batch, logits);
    QCOMPARE(logits.size(), size_t(2 * V));
    QVERIFY(max_rel_diff(logits.data(), expected.data(), V) < kBatchTolerance);
    QVERIFY(max_rel_diff(logits.data() + V, expected.data(), V) < kBatchTolerance);

    // The rejected batches wrote nothing: sequence A continues as a fresh backend would.
    SequenceSlice next = slice(one, 18, table_a, 1);
    b.forward_batch({&next, 1}, logits);
    CpuBackend fresh(config_, weights_, {.n_threads = 2, .context_size = 40});
    std::vector<float> want;
    fresh.forward({prompt, false}, want);
    fresh.forward({one, false}, want);
    QVERIFY2(max_rel_diff(logits.data(), want.data(), V) < kBatchTolerance, "the backend is not usable after errors");
  }

 private:
  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
  unsigned seed_ = 0;
};

QTEST_APPLESS_MAIN(TestCpuPaged)
#include "test_cpu_paged.moc"
