// SqliteKvStore: round trip, corrupted / truncated / mismatched entries rejected and deleted,
// LRU total cap and per-group cap evicting exactly what a simple LRU model says; load_chain
// (windows of a chain in one call, verified on several threads) against one-by-one loads, raw
// storage of data zstd cannot shrink.
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <random>

#include "storage/preset_store.h"
#include "storage/sqlite_kv_store.h"

using namespace hearth;

namespace {

const KvGeometry kGeometry{.n_layer = 3, .n_kv_head = 2, .head_dim = 8, .block_tokens = 16, .dtype = DType::F32};

struct Fixture {
  QTemporaryDir dir;
  std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "kv-cache.db";
  std::mt19937 rng;
  explicit Fixture(unsigned seed) : rng(seed) {}

  // Incompressible data when `random_data`, so every block stores about the same bytes.
  KvBlockRecord block(uint64_t chain, uint64_t parent, bool random_data = true) {
    KvBlockRecord b{chain, parent, std::vector<TokenId>(kGeometry.block_tokens),
                    std::vector<std::byte>(kGeometry.block_bytes())};
    for (auto& t : b.tokens) t = static_cast<TokenId>(rng() % 50000);
    std::normal_distribution<float> value(0.f, 1.f);
    auto* f = reinterpret_cast<float*>(b.data.data());
    for (size_t i = 0; i < b.data.size() / 4; ++i) f[i] = random_data ? value(rng) : float(i % 7);
    return b;
  }
};

unsigned fresh_seed() {
  const unsigned seed = std::random_device{}();
  qInfo("seed %u", seed);
  return seed;
}

void corrupt(Database& db, const std::string& assignment, uint64_t chain) {
  int64_t key;
  std::memcpy(&key, &chain, 8);
  db.prepare("UPDATE kv_blocks SET " + assignment + " WHERE chain_hash = ?1").bind(1, key).run();
}

}  // namespace

class TestSqliteKvStore : public QObject {
  Q_OBJECT

 private slots:
  void roundTripAcrossConnections() {
    Fixture f(fresh_seed());
    const KvFingerprint fp{0xfeedface12345678ull, kGeometry};
    std::vector<KvBlockRecord> chain;
    uint64_t parent = 0;
    for (int i = 0; i < 6; ++i) {
      const uint64_t h = f.rng() | (uint64_t{1} << 63);  // high bit: u64 keys beyond i64 range
      chain.push_back(f.block(h, parent, i % 2 == 0));
      parent = h;
    }
    {
      SqliteKvStore store(f.path);
      store.save(fp, "conversation:1", chain);
      store.save(fp, "conversation:1", chain);  // saving again is harmless
      QCOMPARE(store.entries().size(), chain.size());
    }
    SqliteKvStore store(f.path);  // after a restart
    for (const auto& b : chain) {
      QVERIFY(store.contains(fp, b.chain_hash));
      const auto got = store.load(fp, b.chain_hash);
      QVERIFY(got.has_value());
      QCOMPARE(got->chain_hash, b.chain_hash);
      QCOMPARE(got->parent_hash, b.parent_hash);
      QVERIFY(got->tokens == b.tokens);
      QVERIFY(got->data == b.data);
    }
    QVERIFY(!store.contains(fp, 12345));
    QVERIFY(!store.load(fp, 12345).has_value());
    // Another model, or the same model with another layout, finds nothing.
    KvFingerprint other_model = fp;
    other_model.model_hash ^= 1;
    KvFingerprint other_layout = fp;
    other_layout.geometry.dtype = DType::F16;
    QVERIFY(!store.contains(other_model, chain[0].chain_hash));
    QVERIFY(!store.load(other_layout, chain[0].chain_hash).has_value());
    QCOMPARE(store.entries().size(), chain.size());  // a miss deletes nothing
    // Blocks that do not fit the geometry are not saved.
    KvBlockRecord wrong = f.block(77, 0);
    wrong.data.pop_back();
    store.save(fp, "g", std::span<const KvBlockRecord>(&wrong, 1));
    QVERIFY(!store.contains(fp, 77));
  }

  void corruptEntriesAreRejectedAndDeleted() {
    Fixture f(fresh_seed());
    const KvFingerprint fp{42, kGeometry};
    SqliteKvStore store(f.path);
    std::vector<KvBlockRecord> blocks;
    for (uint64_t h = 1; h <= 12; ++h) blocks.push_back(f.block(h, h - 1));
    store.save(fp, "g", blocks);
    // Each kind of damage, written behind the store's back as a bad disk or a foreign writer would.
    const std::vector<std::pair<uint64_t, std::string>> damage = {
        {1, "data = substr(data, 1, length(data) - 7)"},                          // truncated blob
        {2, "data = zeroblob(length(data))"},                                     // not zstd at all
        {3, "checksum = checksum + 1"},                                           // checksum mismatch
        {4, "tokens = substr(tokens, 1, 60)"},                                    // short token list
        {5, "model_hash = model_hash + 1"},                                       // fingerprint hash collision
        {6, "head_dim = 4"},                                                      // another layout
        {7, "raw_bytes = raw_bytes * 2"},                                         // lying size
        {8, "tokens = zeroblob(64)"},                                             // tokens changed: checksum
        {9, "data = x'28b52ffd'"},                                                // zstd magic, nothing else
        {10, "data = NULL"},                                                     // (NOT NULL refuses: stays ok)
    };
    for (const auto& [chain, assignment] : damage) {
      try {
        corrupt(store.database(), assignment, chain);
      } catch (const StorageError&) {
        QCOMPARE(chain, uint64_t{10});  // the schema refuses a NULL blob
      }
    }
    // Flip one random byte inside the compressed data of block 11 (content or frame checksum).
    {
      auto st = store.database().prepare("SELECT data FROM kv_blocks WHERE chain_hash = 11");
      QVERIFY(st.step());
      auto bytes = std::vector<std::byte>(st.blob(0).begin(), st.blob(0).end());
      st.reset();
      // The second half is block content (incompressible data is stored raw); a header byte could
      // hit the frame descriptor's unused bit, which decoders must ignore.
      bytes[bytes.size() / 2 + f.rng() % (bytes.size() / 2)] ^= std::byte{0xff};
      store.database().prepare("UPDATE kv_blocks SET data = ?1 WHERE chain_hash = 11").bind_blob(1, bytes).run();
    }
    for (uint64_t h = 1; h <= 9; ++h) {
      QVERIFY2(!store.load(fp, h).has_value(), std::to_string(h).c_str());
      QVERIFY2(!store.contains(fp, h), std::to_string(h).c_str());  // deleted
    }
    QVERIFY(!store.load(fp, 11).has_value());
    QVERIFY(!store.contains(fp, 11));
    for (uint64_t h : {10, 12}) {
      const auto got = store.load(fp, h);
      QVERIFY(got.has_value());
      QVERIFY(got->data == blocks[h - 1].data);
    }
  }

  void loadChainMatchesLoadAndStopsAtTheFirstGap() {
    Fixture f(fresh_seed());
    const KvFingerprint fp{99, kGeometry};
    std::vector<KvBlockRecord> chain;
    std::vector<uint64_t> hashes;
    for (uint64_t h = 1; h <= 24; ++h) {
      chain.push_back(f.block(h * 1000, (h - 1) * 1000, h % 3 != 0));  // every third compressible
      hashes.push_back(h * 1000);
    }
    {
      SqliteKvStore store(f.path);
      store.save(fp, "system-prompt", chain);
    }
    for (int threads : {1, 4}) {
      SqliteKvStore store(f.path, {.verify_threads = threads});
      const auto got = store.load_chain(fp, hashes);
      QCOMPARE(got.size(), hashes.size());
      for (size_t i = 0; i < chain.size(); ++i) {
        QVERIFY(got[i].has_value());
        QCOMPARE(got[i]->chain_hash, chain[i].chain_hash);
        QCOMPARE(got[i]->parent_hash, chain[i].parent_hash);
        QVERIFY(got[i]->tokens == chain[i].tokens);
        QVERIFY(got[i]->data == chain[i].data);
      }
    }
    SqliteKvStore store(f.path);
    // Random floats are stored raw (zstd saves too little), the patterned blocks compressed.
    for (const auto& e : store.entries()) {
      const int64_t raw = kGeometry.block_bytes() + kGeometry.block_tokens * 4;
      if ((e.chain_hash / 1000) % 3 != 0) {
        QCOMPARE(e.stored_bytes, raw);
      } else {
        QVERIFY2(e.stored_bytes < raw / 2, qPrintable(QString::number(e.stored_bytes)));
      }
    }
    // A hash that is absent in the middle: it and everything after it come back empty.
    std::vector<uint64_t> gap = hashes;
    gap[10] = 4242;
    auto got = store.load_chain(fp, gap);
    for (size_t i = 0; i < gap.size(); ++i) QCOMPARE(got[i].has_value(), i < 10);
    // A damaged block in the middle (one raw, one compressed): deleted; the chain stops there.
    corrupt(store.database(), "checksum = checksum + 1", 8000);
    corrupt(store.database(), "data = substr(data, 1, length(data) - 1)", 15000);
    got = store.load_chain(fp, hashes);
    for (size_t i = 0; i < hashes.size(); ++i) QCOMPARE(got[i].has_value(), i < 7);
    QVERIFY(!store.contains(fp, 8000));
    QVERIFY(!store.contains(fp, 15000));  // read in the same window: found bad, deleted too
    got = store.load_chain(fp, std::span<const uint64_t>(hashes).subspan(8));
    for (size_t i = 0; i < got.size(); ++i) QCOMPARE(got[i].has_value(), i + 8 < 14);
    // Loaded blocks became the most recently used (written at the next save or read of entries).
    const auto entries = store.entries();
    QCOMPARE(entries.back().chain_hash, uint64_t{14000});
  }

  void damagedCacheFileStartsOver() {
    Fixture f(fresh_seed());
    {
      FILE* file = std::fopen(f.path.c_str(), "wb");
      const std::string junk(65536, '\x5a');
      std::fwrite(junk.data(), 1, junk.size(), file);
      std::fclose(file);
    }
    SqliteKvStore store(f.path);
    const KvFingerprint fp{1, kGeometry};
    const auto b = f.block(5, 0);
    store.save(fp, "g", std::span<const KvBlockRecord>(&b, 1));
    QVERIFY(store.load(fp, 5).has_value());
  }

  void lruCapsEvictTheRightBlocks() {
    Fixture f(fresh_seed());
    const KvFingerprint fp{7, kGeometry};
    SqliteKvStore store(f.path, {.max_total_bytes = int64_t{1} << 40, .max_group_bytes = int64_t{1} << 40});

    // The model: a recency list of (chain, group, size). Saves of single blocks and loads bump a
    // block to the front; caps drop from the back.
    std::list<std::tuple<uint64_t, std::string, int64_t>> lru;  // front: most recent
    auto size_of = [&](uint64_t chain) {
      for (const auto& e : store.entries()) {
        if (e.chain_hash == chain) return e.stored_bytes;
      }
      return int64_t{-1};
    };
    auto bump = [&](uint64_t chain) {
      auto it = std::find_if(lru.begin(), lru.end(), [&](const auto& e) { return std::get<0>(e) == chain; });
      if (it != lru.end()) lru.splice(lru.begin(), lru, it);
    };
    auto apply_caps = [&](int64_t total_cap, int64_t group_cap, const std::string& group) {
      // Per-group cap for `group` first (the store applies it to the group it saves into), then total.
      int64_t kept = 0;
      for (auto it = lru.begin(); it != lru.end();) {
        if (std::get<1>(*it) != group) {
          ++it;
          continue;
        }
        kept += std::get<2>(*it);
        it = kept > group_cap ? lru.erase(it) : std::next(it);
      }
      kept = 0;
      for (auto it = lru.begin(); it != lru.end();) {
        kept += std::get<2>(*it);
        it = kept > total_cap ? lru.erase(it) : std::next(it);
      }
    };
    auto check = [&]() {
      std::vector<uint64_t> expected;
      for (auto it = lru.rbegin(); it != lru.rend(); ++it) expected.push_back(std::get<0>(*it));
      std::vector<uint64_t> got;
      for (const auto& e : store.entries()) got.push_back(e.chain_hash);  // least recent first
      QCOMPARE(got, expected);
    };

    const std::string groups[] = {"conversation:1", "conversation:2", "system-prompt"};
    uint64_t next_chain = 1000;
    for (int i = 0; i < 30; ++i) {
      const auto b = f.block(next_chain++, 0);
      const std::string& group = groups[f.rng() % 3];
      store.save(fp, group, std::span<const KvBlockRecord>(&b, 1));
      lru.emplace_front(b.chain_hash, group, size_of(b.chain_hash));
    }
    check();
    // Touch a few by loading them.
    for (int i = 0; i < 8; ++i) {
      const uint64_t chain = 1000 + f.rng() % 30;
      QVERIFY(store.load(fp, chain).has_value());
      bump(chain);
    }
    check();
    // Sizes are all close to one block's compressed size; caps in those units.
    const int64_t unit = std::get<2>(lru.front());
    store.set_limits(unit * 20 + unit / 2, unit * 8 + unit / 2);
    for (const auto& g : groups) apply_caps(int64_t{1} << 40, unit * 8 + unit / 2, g);
    apply_caps(unit * 20 + unit / 2, int64_t{1} << 40, "");
    // Data sizes vary by a few bytes, so the model's exact sums decide; both use the same sizes.
    check();
    QVERIFY(store.stored_bytes() <= unit * 20 + unit / 2);
    // A multi-block save: the chain's first block counts as the most recent one.
    std::vector<KvBlockRecord> prefix;
    for (int i = 0; i < 5; ++i) {
      const uint64_t chain = next_chain++;
      prefix.push_back(f.block(chain, i ? chain - 1 : 0));
    }
    store.save(fp, "conversation:3", prefix);
    for (auto it = prefix.rbegin(); it != prefix.rend(); ++it) {
      lru.emplace_front(it->chain_hash, "conversation:3", size_of(it->chain_hash));
    }
    // The save applied the caps already; bring the model to the same state.
    apply_caps(unit * 20 + unit / 2, unit * 8 + unit / 2, "conversation:3");
    check();
    // A long prefix in one group is trimmed from its end by the group cap.
    std::vector<KvBlockRecord> long_prefix;
    for (int i = 0; i < 12; ++i) long_prefix.push_back(f.block(next_chain++, 0));
    store.save(fp, "conversation:4", long_prefix);
    int stored = 0;
    for (int i = 0; i < 12; ++i) {
      const bool present = store.contains(fp, long_prefix[i].chain_hash);
      if (present) ++stored;
      QVERIFY2(present == (i < stored), "kept blocks must be a prefix of the chain");
    }
    QVERIFY(stored >= 7 && stored <= 8);
  }

  void limitsComeFromSettings() {
    QTemporaryDir dir;
    Database db(std::filesystem::path(dir.path().toStdString()) / "hearth.db");
    SettingsStore settings(db);
    QCOMPARE(kv_store_options_from_settings(settings).max_total_bytes, int64_t{2} << 30);
    settings.set("kv_cache.max_bytes", "1048576");
    settings.set("kv_cache.max_group_bytes", "lots");
    const auto options = kv_store_options_from_settings(settings);
    QCOMPARE(options.max_total_bytes, int64_t{1048576});
    QCOMPARE(options.max_group_bytes, int64_t{512} << 20);
  }
};

QTEST_APPLESS_MAIN(TestSqliteKvStore)
#include "test_sqlite_kv_store.moc"
