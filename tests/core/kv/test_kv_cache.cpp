// BlockPool / KvCache invariants under long randomized runs of submit, decode, cancel, finish,
// preempt and fork, against an independent model of what each block must contain: every
// block's simulated KV content is the token ids it was written with, so a missed copy-on-write
// or a wrongly reused block shows up as a wrong token at some position.
#include <QTest>

#include <cstdio>
#include <map>
#include <random>
#include <unordered_map>

#include "core/common/error.h"
#include "core/kv/kv_cache.h"
#include "core/kv/prefix_hash.h"

using namespace hearth;

namespace {

struct SimSequence {
  std::vector<TokenId> tokens;  // known tokens
  int64_t computed = 0;
  BlockTable table;
};

class KvSimulation {
 public:
  KvSimulation(uint64_t seed, int64_t n_blocks, int64_t block_tokens, bool with_store)
      : rng_(seed), kv_(n_blocks, block_tokens, 0x1234), content_(static_cast<size_t>(n_blocks)), with_store_(with_store) {
    for (auto& c : content_) c.assign(static_cast<size_t>(block_tokens), -1);
    kv_.pool().set_eviction_hook([this](int32_t block, const PublishedBlock& meta) {
      ++evicted_;
      if (!with_store_) return;
      // The evicted block must hold exactly its published tokens.
      QCOMPARE(content_[static_cast<size_t>(block)], meta.tokens);
      store_[meta.chain_hash] = meta.tokens;
    });
  }

  void step() {
    const int op = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (op < 25 || seqs_.empty()) {
      submit();
    } else if (op < 70) {
      advance(pick());
    } else if (op < 80) {
      finish(pick());  // finish and cancel both release; a cancel may hit mid-prefill
    } else if (op < 88) {
      preempt(pick());
    } else if (op < 95) {
      fork(pick());
    } else {
      finish(pick());
    }
  }

  void check() {
    kv_.pool().check_invariants();
    std::unordered_map<int32_t, int32_t> holders;
    for (auto& [id, s] : seqs_) {
      for (int32_t b : s.table.blocks) ++holders[b];
      QVERIFY(static_cast<int64_t>(s.table.blocks.size()) >= kv_.blocks_for(s.computed));
      // Every computed position reads back its own token through the table.
      for (int64_t p = 0; p < s.computed; ++p) {
        const int32_t b = s.table.blocks[static_cast<size_t>(p / kv_.block_tokens())];
        const TokenId got = content_[static_cast<size_t>(b)][static_cast<size_t>(p % kv_.block_tokens())];
        if (got != s.tokens[static_cast<size_t>(p)]) {
          QFAIL(qPrintable(QString("sequence %1 position %2: block %3 holds %4, expected %5")
                               .arg(id).arg(p).arg(b).arg(got).arg(s.tokens[static_cast<size_t>(p)])));
        }
      }
    }
    for (int32_t b = 0; b < kv_.pool().total(); ++b) {
      const int32_t expected = holders.count(b) ? holders[b] : 0;
      if (kv_.pool().refcount(b) != expected) {
        QFAIL(qPrintable(QString("block %1: refcount %2, held by %3 tables").arg(b).arg(kv_.pool().refcount(b)).arg(expected)));
      }
    }
  }

  void drain() {
    while (!seqs_.empty()) finish(seqs_.begin()->first);
    kv_.pool().check_invariants();
    QCOMPARE(kv_.pool().used(), int64_t{0});
    QCOMPARE(kv_.pool().cached() + kv_.pool().free(), kv_.pool().total());
  }

  int64_t hits() const { return hit_tokens_; }
  int64_t restored() const { return restored_tokens_; }
  uint64_t evicted() const { return evicted_; }

 private:
  uint64_t pick() {
    auto it = seqs_.begin();
    std::advance(it, std::uniform_int_distribution<size_t>(0, seqs_.size() - 1)(rng_));
    return it->first;
  }

  void submit() {
    SimSequence s;
    // Prompts share prefixes often: a few "system prompts" plus a random tail over few tokens.
    const int system = std::uniform_int_distribution<int>(0, 3)(rng_);
    const int64_t system_len = std::uniform_int_distribution<int64_t>(0, 3 * kv_.block_tokens())(rng_);
    for (int64_t i = 0; i < system_len; ++i) s.tokens.push_back(static_cast<TokenId>(system * 100 + i % 7));
    const int64_t tail = std::uniform_int_distribution<int64_t>(1, 2 * kv_.block_tokens())(rng_);
    for (int64_t i = 0; i < tail; ++i) s.tokens.push_back(std::uniform_int_distribution<TokenId>(0, 2)(rng_));
    admit(s);
    seqs_.emplace(next_id_++, std::move(s));
  }

  // Prefix match + backing off one token when everything matched (the last token must be computed).
  void admit(SimSequence& s) {
    auto has = [this](uint64_t h) { return store_.count(h) > 0; };
    auto restore = [this](const PublishedBlock& meta, int32_t block) {
      const auto it = store_.find(meta.chain_hash);
      if (it == store_.end()) return false;
      content_[static_cast<size_t>(block)] = it->second;
      return true;
    };
    const PrefixMatch m = with_store_ ? kv_.match_prefix(s.table, s.tokens, static_cast<int64_t>(s.tokens.size()), has, restore)
                                      : kv_.match_prefix(s.table, s.tokens, static_cast<int64_t>(s.tokens.size()));
    hit_tokens_ += m.cached_tokens;
    restored_tokens_ += m.restored_tokens;
    s.computed = std::min<int64_t>(m.cached_tokens + m.restored_tokens, static_cast<int64_t>(s.tokens.size()) - 1);
  }

  // Computes up to a chunk of the known tokens, or decodes one new token.
  void advance(uint64_t id) {
    SimSequence& s = seqs_.at(id);
    const auto known = static_cast<int64_t>(s.tokens.size());
    if (s.computed == known) s.tokens.push_back(std::uniform_int_distribution<TokenId>(0, 2)(rng_));
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(s.tokens.size()) - s.computed,
                                        std::uniform_int_distribution<int64_t>(1, 2 * kv_.block_tokens())(rng_));
    const int64_t end = s.computed + n;
    auto copy = [this](int32_t src, int32_t dst) { content_[static_cast<size_t>(dst)] = content_[static_cast<size_t>(src)]; };
    const int64_t need = kv_.blocks_to_write(s.table, s.computed, end);
    if (!kv_.prepare_write(s.table, s.computed, end, copy)) {
      QVERIFY(need > kv_.pool().available());
      preempt(id);  // out of blocks: this one waits and recomputes later
      return;
    }
    // "Forward pass": write this sequence's tokens at their positions.
    for (int64_t p = s.computed; p < end; ++p) {
      const int32_t b = s.table.blocks[static_cast<size_t>(p / kv_.block_tokens())];
      QVERIFY2(kv_.pool().refcount(b) == 1 && !kv_.pool().published(b), "write into a shared or published block");
      content_[static_cast<size_t>(b)][static_cast<size_t>(p % kv_.block_tokens())] = s.tokens[static_cast<size_t>(p)];
    }
    s.computed = end;
    kv_.publish_full_blocks(s.table, s.tokens, s.computed);
  }

  void finish(uint64_t id) {
    kv_.release(seqs_.at(id).table);
    seqs_.erase(id);
  }

  void preempt(uint64_t id) {
    SimSequence& s = seqs_.at(id);
    kv_.release(s.table);
    admit(s);  // "later": recompute from whatever is still cached
  }

  void fork(uint64_t id) {
    if (seqs_.size() > 40) return;
    SimSequence copy = seqs_.at(id);
    copy.table = kv_.fork(seqs_.at(id).table);
    seqs_.emplace(next_id_++, std::move(copy));
  }

  std::mt19937_64 rng_;
  KvCache kv_;
  std::vector<std::vector<TokenId>> content_;  // [block][slot]: the token written there
  bool with_store_;
  std::map<uint64_t, std::vector<TokenId>> store_;
  std::map<uint64_t, SimSequence> seqs_;
  uint64_t next_id_ = 1;
  int64_t hit_tokens_ = 0, restored_tokens_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace

class TestKvCache : public QObject {
  Q_OBJECT

 private slots:
  void poolBasics() {
    BlockPool pool(3);
    const int32_t a = *pool.allocate(), b = *pool.allocate(), c = *pool.allocate();
    QVERIFY(!pool.allocate());
    QCOMPARE(pool.used(), int64_t{3});
    QVERIFY(pool.publish(a, {42, 0, {1, 2}}));
    QVERIFY(!pool.publish(b, {42, 0, {1, 2}}));  // hash taken
    pool.release(a);
    QCOMPARE(pool.cached(), int64_t{1});
    QCOMPARE(*pool.find(42), a);
    pool.release(b);
    QCOMPARE(pool.free(), int64_t{1});
    // Free blocks go first, the cached one survives.
    QCOMPARE(*pool.allocate(), b);
    int evicted = -1;
    pool.set_eviction_hook([&](int32_t blk, const PublishedBlock& m) {
      evicted = blk;
      QCOMPARE(m.chain_hash, uint64_t{42});
    });
    QCOMPARE(*pool.allocate(), a);
    QCOMPARE(evicted, a);
    QVERIFY(!pool.find(42));
    pool.release(a);
    pool.release(b);
    pool.release(c);
    QVERIFY_THROWS_EXCEPTION(Error, pool.release(c));  // double free
    pool.check_invariants();
    QCOMPARE(pool.free(), int64_t{3});
  }

  void copyOnWriteOfFullyMatchedPrompt() {
    KvCache kv(8, 4, 7);
    std::vector<std::vector<TokenId>> content(8);
    auto copy = [&](int32_t s, int32_t d) { content[static_cast<size_t>(d)] = content[static_cast<size_t>(s)]; };
    const std::vector<TokenId> prompt = {1, 2, 3, 4, 5, 6, 7, 8};
    BlockTable a;
    QVERIFY(kv.prepare_write(a, 0, 8, copy));
    kv.publish_full_blocks(a, prompt, 8);
    BlockTable b;
    const PrefixMatch m = kv.match_prefix(b, prompt, 8);
    QCOMPARE(m.cached_tokens, int64_t{8});
    QCOMPARE(b.blocks, a.blocks);
    // Recomputing the last token writes into the shared second block: it must be copied.
    QCOMPARE(kv.blocks_to_write(b, 7, 8), int64_t{1});
    QVERIFY(kv.prepare_write(b, 7, 8, copy));
    QCOMPARE(b.blocks[0], a.blocks[0]);
    QVERIFY(b.blocks[1] != a.blocks[1]);
    QCOMPARE(kv.pool().refcount(a.blocks[0]), 2);
    QCOMPARE(b.hashes.size(), size_t{1});
    kv.release(a);
    kv.release(b);
    kv.pool().check_invariants();
    QCOMPARE(kv.pool().cached(), int64_t{2});
  }

  void prepareWriteIsAllOrNothing() {
    KvCache kv(2, 4, 7);
    BlockTable t;
    auto copy = [](int32_t, int32_t) {};
    QVERIFY(!kv.prepare_write(t, 0, 9, copy));  // needs 3
    QVERIFY(t.blocks.empty());
    QCOMPARE(kv.pool().free(), int64_t{2});
    QVERIFY(kv.prepare_write(t, 0, 8, copy));
    kv.release(t);
  }

  void chainHashDependsOnEverything() {
    const std::vector<TokenId> a = {1, 2, 3, 4}, b = {1, 2, 3, 5};
    QVERIFY(chain_hash(1, 0, a) != chain_hash(1, 0, b));
    QVERIFY(chain_hash(1, 0, a) != chain_hash(2, 0, a));
    QVERIFY(chain_hash(1, 0, a) != chain_hash(1, 9, a));
    KvFingerprint f1, f2;
    f2.geometry.block_tokens = 32;
    QVERIFY(fingerprint_seed(f1) != fingerprint_seed(f2));
  }

  void randomizedInvariants_data() {
    QTest::addColumn<bool>("with_store");
    QTest::newRow("memory") << false;
    QTest::newRow("with_store") << true;
  }
  void randomizedInvariants() {
    QFETCH(bool, with_store);
    const uint64_t seed = std::random_device{}();
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    KvSimulation sim(seed, 48, 4, with_store);
    for (int i = 0; i < 12000; ++i) {
      sim.step();
      if (QTest::currentTestFailed()) QFAIL(qPrintable(QString("seed %1, step %2").arg(seed).arg(i)));
      if (i % 7 == 0) {
        sim.check();
        if (QTest::currentTestFailed()) QFAIL(qPrintable(QString("seed %1, step %2").arg(seed).arg(i)));
      }
    }
    sim.check();
    sim.drain();
    std::printf("prefix hit tokens %lld, restored %lld, evictions %llu\n", static_cast<long long>(sim.hits()),
                static_cast<long long>(sim.restored()), static_cast<unsigned long long>(sim.evicted()));
    QVERIFY2(sim.hits() > 0, "the run never reused a prefix: the test is not exercising the cache");
    QVERIFY(sim.evicted() > 0);
    if (with_store) QVERIFY(sim.restored() > 0);
  }
};

QTEST_APPLESS_MAIN(TestKvCache)
#include "test_kv_cache.moc"
