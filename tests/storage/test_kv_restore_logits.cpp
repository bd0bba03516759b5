// The persistent KV cache end to end on stories260K: a prefix runs through a CpuBackend
// (single-sequence API, blocks 0..n), its full blocks are saved through SqliteKvStore; a fresh
// backend and a fresh store connection (a restart) load them, write them into the pool and run
// the rest of the tokens. Its logits must be BITWISE identical to those of the first backend
// continuing with its own (recomputed) KV, and match a straight run over all tokens in one pass
// to a tight tolerance (1e-5 relative: a different chunking sums in another order).
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "core/backend/cpu/cpu_backend.h"
#include "core/gguf/gguf_file.h"
#include "core/kv/prefix_hash.h"
#include "storage/sqlite_kv_store.h"
#include "tests/storage/storage_test_support.h"

using namespace hearth;
using hearth::test::max_rel_diff;

namespace {

const char* kModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

}  // namespace

class TestKvRestoreLogits : public QObject {
  Q_OBJECT

 private slots:
  void restoredKvGivesIdenticalLogits() {
    const unsigned seed = std::random_device{}();
    qInfo("seed %u", seed);
    std::mt19937 rng(seed);
    auto file = gguf::GgufFile::open(kModel);
    const ModelConfig config = ModelConfig::from_gguf(file);
    const ModelWeights weights = ModelWeights::from_gguf(file, config);
    const CpuBackendOptions options{.n_threads = 2, .context_size = 256};

    std::vector<TokenId> tokens(96);
    tokens[0] = 1;  // BOS
    for (size_t i = 1; i < tokens.size(); ++i) tokens[i] = 3 + static_cast<TokenId>(rng() % (config.n_vocab - 3));
    const int64_t n_prefix_blocks = 3;

    CpuBackend first(config, weights, options);
    const KvGeometry geometry = first.kv_geometry();
    const int64_t prefix = n_prefix_blocks * geometry.block_tokens;  // 48 with 16-token blocks
    const std::span<const TokenId> head = std::span(tokens).first(prefix);
    const std::span<const TokenId> rest = std::span(tokens).subspan(prefix);
    const KvFingerprint fingerprint{0x5707135260ull, geometry};

    QTemporaryDir dir;
    const auto cache_path = std::filesystem::path(dir.path().toStdString()) / "kv-cache.db";
    std::vector<float> logits;
    first.forward({head, false}, logits);
    std::vector<uint64_t> chain;
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
        blocks.push_back(std::move(r));
      }
      store.save(fingerprint, "conversation:1", blocks);
    }
    std::vector<float> recomputed;
    first.forward({rest, true}, recomputed);

    // A restart: fresh backend, fresh connection.
    CpuBackend second(config, weights, options);
    SqliteKvStore store(cache_path);
    for (int64_t b = 0; b < n_prefix_blocks; ++b) {
      QVERIFY(store.contains(fingerprint, chain[b]));
      const auto record = store.load(fingerprint, chain[b]);
      QVERIFY(record.has_value());
      QVERIFY(std::equal(record->tokens.begin(), record->tokens.end(), head.begin() + b * geometry.block_tokens));
      second.write_kv_block(static_cast<int32_t>(b), record->data);
    }
    std::vector<int32_t> table(static_cast<size_t>(geometry.blocks_for(int64_t(tokens.size()))));
    std::iota(table.begin(), table.end(), 0);
    const SequenceSlice slice{rest, prefix, table, static_cast<int64_t>(rest.size())};
    std::vector<float> restored;
    second.forward_batch(std::span(&slice, 1), restored);
    QCOMPARE(restored.size(), recomputed.size());
    QVERIFY2(std::memcmp(restored.data(), recomputed.data(), restored.size() * sizeof(float)) == 0,
             qPrintable(QString("restored KV logits differ, max rel %1").arg(max_rel_diff(restored, recomputed))));

    // And a straight run over every token agrees closely.
    CpuBackend straight(config, weights, options);
    std::vector<float> all;
    straight.forward({tokens, true}, all);
    const std::vector<float> tail(all.end() - static_cast<std::ptrdiff_t>(restored.size()), all.end());
    QVERIFY2(max_rel_diff(restored, tail) < 1e-5, qPrintable(QString::number(max_rel_diff(restored, tail))));

    // The check can fail: a wrong block (the first one in every slot; attention is blind to the
    // order of whole blocks, RoPE lives inside K) gives other logits.
    CpuBackend swapped(config, weights, options);
    for (int64_t b = 0; b < n_prefix_blocks; ++b) {
      const auto record = store.load(fingerprint, chain[0]);
      swapped.write_kv_block(static_cast<int32_t>(b), record->data);
    }
    std::vector<float> wrong;
    swapped.forward_batch(std::span(&slice, 1), wrong);
    qInfo("wrong blocks: max rel diff %g", max_rel_diff(wrong, recomputed));
    QVERIFY(max_rel_diff(wrong, recomputed) > 1e-3);
  }
};

QTEST_APPLESS_MAIN(TestKvRestoreLogits)
#include "test_kv_restore_logits.moc"
