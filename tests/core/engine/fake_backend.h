#pragma once
// A model-free Backend for engine tests. Its "KV" of a position is the token id written there,
// and the logits of a position are a fixed pseudo-random function of every token at positions
// 0..p *as read back through the block table*. So a block-table bug (a missed copy-on-write, a
// block reused while still held, a wrong prefix match) changes the outputs, while the expected
// output of a prompt can be computed independently: fake_next_token() on the plain token list.
#include <atomic>
#include <chrono>
#include <functional>
#include <cstring>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/error.h"

namespace hearth::test {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// History hash -> logits [n_vocab]. Tokens below `first_allowed` (BOS/EOS/...) get -50 so
// greedy runs are not cut short by an end-of-generation token.
inline void fake_logits(uint64_t history_hash, int64_t n_vocab, int32_t first_allowed, float* out) {
  for (int64_t v = 0; v < n_vocab; ++v) {
    const uint64_t r = mix64(history_hash ^ (static_cast<uint64_t>(v) * 0x9e3779b97f4a7c15ull));
    out[v] = v < first_allowed ? -50.0f : static_cast<float>(r % 100000) / 10000.0f;  // 0..10
  }
}

inline uint64_t fake_hash_step(uint64_t h, TokenId t) { return mix64(h ^ (static_cast<uint64_t>(t) + 0x1234567ull)); }

// The independent reference: greedy continuation of `prompt` by n tokens.
inline std::vector<TokenId> fake_greedy(const std::vector<TokenId>& prompt, int64_t n, int64_t n_vocab, int32_t first_allowed) {
  std::vector<TokenId> all = prompt, out;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t h = 0;
    for (TokenId t : all) h = fake_hash_step(h, t);
    fake_logits(h, n_vocab, first_allowed, logits.data());
    TokenId best = 0;
    for (int64_t v = 1; v < n_vocab; ++v) {
      if (logits[static_cast<size_t>(v)] > logits[static_cast<size_t>(best)]) best = static_cast<TokenId>(v);
    }
    out.push_back(best);
    all.push_back(best);
  }
  return out;
}

struct FakeBackendConfig {
  int64_t n_vocab = 512;
  int64_t context = 256;
  int64_t n_blocks = 64;
  int64_t block_tokens = 4;
  int32_t first_allowed = 3;
  std::chrono::microseconds step_delay{0};  // per forward_batch, to make steps observable
  std::function<void()> before_step;        // called at the start of each forward_batch (a gate)
  // Called with each forward_batch's slices (a cost model advancing a fake clock, for example).
  std::function<void(std::span<const SequenceSlice>)> on_forward;
};

class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(FakeBackendConfig c)
      : c_(c), slots_(static_cast<size_t>(c.n_blocks * c.block_tokens), -1) {}

  std::string device_name() const override { return "fake"; }
  int64_t context_size() const override { return c_.context; }
  int64_t n_vocab() const override { return c_.n_vocab; }
  KvGeometry kv_geometry() const override {
    KvGeometry g;
    g.n_layer = 1;
    g.n_kv_head = 1;
    g.head_dim = 1;
    g.block_tokens = c_.block_tokens;
    g.dtype = DType::F32;
    return g;  // block_bytes = 2 * block_tokens * 4: K = token id, V = 0
  }
  int64_t kv_block_count() const override { return c_.n_blocks; }

  void forward_batch(std::span<const SequenceSlice> seqs, std::vector<float>& logits) override {
    if (c_.before_step) c_.before_step();
    if (c_.on_forward) c_.on_forward(seqs);
    if (c_.step_delay.count() > 0) std::this_thread::sleep_for(c_.step_delay);
    int64_t rows = 0;
    for (const auto& s : seqs) rows += s.n_logits;
    logits.assign(static_cast<size_t>(rows * c_.n_vocab), 0.0f);
    float* out = logits.data();
    ++steps_;
    for (const auto& s : seqs) {
      const auto n = static_cast<int64_t>(s.tokens.size());
      if (n == 0 || s.n_logits < 0 || s.n_logits > n) throw Error("fake: bad slice");
      if (s.n_past + n > c_.context) throw Error("fake: context overflow");
      if (static_cast<int64_t>(s.block_table.size()) * c_.block_tokens < s.n_past + n) throw Error("fake: block table too short");
      max_batch_rows_ = std::max<int64_t>(max_batch_rows_, static_cast<int64_t>(seqs.size()));
      for (int64_t i = 0; i < n; ++i) slot(s.block_table, s.n_past + i) = s.tokens[static_cast<size_t>(i)];
      uint64_t h = 0;
      for (int64_t p = 0; p < s.n_past + n; ++p) {
        const TokenId t = slot(s.block_table, p);
        if (t < 0) throw Error("fake: read of a never-written KV slot");
        h = fake_hash_step(h, t);
        if (p >= s.n_past + n - s.n_logits) {
          fake_logits(h, c_.n_vocab, c_.first_allowed, out);
          out += c_.n_vocab;
        }
      }
      tokens_computed_ += n;
    }
  }
  void copy_kv_block(int32_t src, int32_t dst) override {
    check(src);
    check(dst);
    std::memcpy(&slots_[static_cast<size_t>(dst * c_.block_tokens)], &slots_[static_cast<size_t>(src * c_.block_tokens)],
                static_cast<size_t>(c_.block_tokens) * sizeof(TokenId));
    ++copies_;
  }
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override {
    check(block);
    std::memset(bytes.data(), 0, bytes.size());
    std::memcpy(bytes.data(), &slots_[static_cast<size_t>(block * c_.block_tokens)], static_cast<size_t>(c_.block_tokens) * 4);
  }
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override {
    check(block);
    std::memcpy(&slots_[static_cast<size_t>(block * c_.block_tokens)], bytes.data(), static_cast<size_t>(c_.block_tokens) * 4);
  }

  int64_t steps() const { return steps_; }
  int64_t copies() const { return copies_; }
  int64_t tokens_computed() const { return tokens_computed_; }
  int64_t max_batch_rows() const { return max_batch_rows_; }

 private:
  void check(int32_t b) const {
    if (b < 0 || b >= c_.n_blocks) throw Error("fake: block id outside the pool");
  }
  TokenId& slot(std::span<const int32_t> table, int64_t pos) {
    const int32_t b = table[static_cast<size_t>(pos / c_.block_tokens)];
    check(b);
    return slots_[static_cast<size_t>(b * c_.block_tokens + pos % c_.block_tokens)];
  }

  FakeBackendConfig c_;
  std::vector<TokenId> slots_;
  std::atomic<int64_t> steps_{0}, copies_{0}, tokens_computed_{0}, max_batch_rows_{0};
};

// A backend that hands everything to an inner FakeBackend: tests derive from it and override what
// they change (the logits, the time or energy a pass takes, the device name).
class WrappedFake : public Backend {
 public:
  explicit WrappedFake(FakeBackendConfig c) : inner_(std::move(c)) {}
  int64_t context_size() const override { return inner_.context_size(); }
  int64_t n_vocab() const override { return inner_.n_vocab(); }
  KvGeometry kv_geometry() const override { return inner_.kv_geometry(); }
  int64_t kv_block_count() const override { return inner_.kv_block_count(); }
  void forward_batch(std::span<const SequenceSlice> seqs, std::vector<float>& logits) override {
    inner_.forward_batch(seqs, logits);
  }
  void copy_kv_block(int32_t src, int32_t dst) override { inner_.copy_kv_block(src, dst); }
  void read_kv_block(int32_t b, std::span<std::byte> bytes) const override { inner_.read_kv_block(b, bytes); }
  void write_kv_block(int32_t b, std::span<const std::byte> bytes) override { inner_.write_kv_block(b, bytes); }

 protected:
  FakeBackend inner_;
};

}  // namespace hearth::test
