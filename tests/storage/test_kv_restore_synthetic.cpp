// The persistent KV cache on synthetic random-weight models (tiny llama-3 with Llama 3 RoPE
// factors, qwen2.5 with QKV bias, qwen3 with QK norm; float and 4-bit weights) through the CPU
// backend: a prefix runs on one backend, its full blocks are saved through SqliteKvStore; after
// a "restart" (fresh backend, fresh store connection) the blocks come back through load_chain
// (the engine's restore path: one read transaction, parallel verification) and the rest of the
// tokens run on them. The logits must be BITWISE identical to the first backend continuing with
// its own recomputed KV (same kernels on the same inputs), close to a straight run over all
// tokens (1e-4 relative: another chunking sums in another order), and wrong blocks must show.
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "core/backend/cpu/cpu_backend.h"
#include "core/gguf/gguf_file.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "core/kv/prefix_hash.h"
#include "storage/sqlite_kv_store.h"
#include "tests/storage/storage_test_support.h"

using namespace hearth;
using hearth::test::max_rel_diff;

namespace {

}  // namespace

class TestKvRestoreSynthetic : public QObject {
  Q_OBJECT

 private slots:
  void restoredKvGivesIdenticalLogits_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<int>("type");
    for (const char* preset : {"tiny-llama-3", "tiny-qwen2.5", "tiny-qwen3"}) {
      QTest::addRow("%s-f16", preset) << preset << int(QuantTarget::kF16);
      QTest::addRow("%s-q4_k_m", preset) << preset << int(QuantTarget::kQ4_K_M);
    }
  }

  void restoredKvGivesIdenticalLogits() {
    QFETCH(QString, preset);
    QFETCH(int, type);
    const unsigned seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    const ModelPreset* p = find_model_preset(preset.toStdString());
    QVERIFY(p);
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    const auto model_path = root / "model.gguf";
    {
      kernels::cpu::ThreadPool pool(2);
      SynthOptions so;
      so.type = static_cast<QuantTarget>(type);
      so.seed = seed;
      synth_model_file(model_path, *p, so, pool);
    }
    auto file = gguf::GgufFile::open(model_path);
    const ModelConfig config = ModelConfig::from_gguf(file);
    const ModelWeights weights = ModelWeights::from_gguf(file, config);
    const CpuBackendOptions options{.n_threads = 2, .context_size = 512};

    // Ordinary tokens (below the special ones); a prefix of 5 blocks, then 37 more tokens.
    std::vector<TokenId> tokens(117);
    for (auto& t : tokens) t = static_cast<TokenId>(rng() % static_cast<unsigned>(p->first_special));
    const int64_t n_prefix_blocks = 5;

    CpuBackend first(config, weights, options);
    const KvGeometry geometry = first.kv_geometry();
    const int64_t prefix = n_prefix_blocks * geometry.block_tokens;
    const std::span<const TokenId> head = std::span(tokens).first(static_cast<size_t>(prefix));
    const std::span<const TokenId> rest = std::span(tokens).subspan(static_cast<size_t>(prefix));
    const KvFingerprint fingerprint{0x5e7ull + static_cast<uint64_t>(type), geometry};
    const auto cache_path = root / "kv-cache.db";

    std::vector<float> logits;
    first.forward({head, false}, logits);
    std::vector<uint64_t> chain;
    std::vector<std::vector<std::byte>> saved;
    {
      SqliteKvStore store(cache_path);
      std::vector<KvBlockRecord> blocks;
      uint64_t parent = 0;
      for (int64_t b = 0; b < n_prefix_blocks; ++b) {
        KvBlockRecord r;
        r.tokens.assign(head.begin() + b * geometry.block_tokens, head.begin() + (b + 1) * geometry.block_tokens);
        r.parent_hash = parent;
        r.chain_hash = chain_hash(fingerprint_seed(fingerprint), parent, r.tokens);
        r.data.resize(static_cast<size_t>(geometry.block_bytes()));
        first.read_kv_block(static_cast<int32_t>(b), r.data);
        parent = r.chain_hash;
        chain.push_back(r.chain_hash);
        saved.push_back(r.data);
        blocks.push_back(std::move(r));
      }
      store.save(fingerprint, "system-prompt", blocks);
    }
    std::vector<float> recomputed;
    first.forward({rest, true}, recomputed);

    // The restart: fresh backend, fresh connection, the chain in one load_chain call plus a
    // hash that is not stored (its answer and everything after must be empty).
    CpuBackend second(config, weights, options);
    SqliteKvStore store(cache_path);
    std::vector<uint64_t> asked = chain;
    asked.push_back(0xdeadbeefull);
    const auto records = store.load_chain(fingerprint, asked);
    QCOMPARE(records.size(), asked.size());
    QVERIFY(!records.back().has_value());
    for (int64_t b = 0; b < n_prefix_blocks; ++b) {
      const auto& record = records[static_cast<size_t>(b)];
      QVERIFY(record.has_value());
      QCOMPARE(record->chain_hash, chain[static_cast<size_t>(b)]);
      QVERIFY(std::equal(record->tokens.begin(), record->tokens.end(), head.begin() + b * geometry.block_tokens));
      QVERIFY(record->data == saved[static_cast<size_t>(b)]);
      second.write_kv_block(static_cast<int32_t>(b), record->data);
    }
    std::vector<int32_t> table(static_cast<size_t>(geometry.blocks_for(static_cast<int64_t>(tokens.size()))));
    std::iota(table.begin(), table.end(), 0);
    const SequenceSlice slice{rest, prefix, table, static_cast<int64_t>(rest.size())};
    std::vector<float> restored;
    second.forward_batch(std::span(&slice, 1), restored);
    QCOMPARE(restored.size(), recomputed.size());
    QVERIFY2(std::memcmp(restored.data(), recomputed.data(), restored.size() * sizeof(float)) == 0,
             qPrintable(QString("restored KV logits differ, max rel %1").arg(max_rel_diff(restored, recomputed))));

    CpuBackend straight(config, weights, options);
    std::vector<float> all;
    straight.forward({tokens, true}, all);
    const std::vector<float> tail(all.end() - static_cast<std::ptrdiff_t>(restored.size()), all.end());
    qInfo("restored vs straight: max rel %g", max_rel_diff(restored, tail));
    QVERIFY2(max_rel_diff(restored, tail) < 1e-4, qPrintable(QString::number(max_rel_diff(restored, tail))));

    // The check can fail: the blocks in another order (RoPE lives inside K) give other logits.
    // Random weights make attention a small part of the residual stream, so the difference can
    // be tiny (1e-7 relative); a bitwise comparison still sees it.
    CpuBackend swapped(config, weights, options);
    for (int64_t b = 0; b < n_prefix_blocks; ++b) {
      swapped.write_kv_block(static_cast<int32_t>(b), records[static_cast<size_t>((b + 1) % n_prefix_blocks)]->data);
    }
    std::vector<float> wrong;
    swapped.forward_batch(std::span(&slice, 1), wrong);
    qInfo("wrong blocks: max rel diff %g", max_rel_diff(wrong, recomputed));
    QVERIFY(std::memcmp(wrong.data(), recomputed.data(), wrong.size() * sizeof(float)) != 0);
    QVERIFY(max_rel_diff(wrong, recomputed) > 0);
  }
};

QTEST_APPLESS_MAIN(TestKvRestoreSynthetic)
#include "test_kv_restore_synthetic.moc"
