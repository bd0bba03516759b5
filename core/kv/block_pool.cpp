#include "core/kv/block_pool.h"

#include <fmt/format.h>

#include <limits>

#include "core/common/error.h"

namespace hearth {

BlockPool::BlockPool(int64_t n_blocks) {
  if (n_blocks < 0 || n_blocks > std::numeric_limits<int32_t>::max()) {
    throw Error(fmt::format("KV block pool size {} is out of range", n_blocks));
  }
  const auto n = static_cast<size_t>(n_blocks);
  refcount_.assign(n, 0);
  meta_.resize(n);
  lru_pos_.resize(n);
  in_lru_.assign(n, 0);
  free_.reserve(n);
  // Pushed in reverse so that the first allocations get ids 0, 1, 2, ...
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

void BlockPool::check_id(int32_t block) const {
  if (block < 0 || block >= total()) throw Error(fmt::format("KV block id {} outside the pool of {}", block, total()));
}

std::optional<int32_t> BlockPool::allocate() {
  int32_t block = -1;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    block = lru_.front();
    lru_.pop_front();
    in_lru_[static_cast<size_t>(block)] = 0;
    auto& meta = meta_[static_cast<size_t>(block)];
    if (on_evict_) on_evict_(block, *meta);
    by_hash_.erase(meta->chain_hash);
    meta.reset();
    ++evictions_;
  } else {
    return std::nullopt;
  }
  refcount_[static_cast<size_t>(block)] = 1;
  ++used_;
  return block;
}

void BlockPool::retain(int32_t block) {
  check_id(block);
  const auto i = static_cast<size_t>(block);
  if (refcount_[i] == 0) {
    if (!in_lru_[i]) throw Error(fmt::format("retain of free KV block {}", block));
    lru_.erase(lru_pos_[i]);
    in_lru_[i] = 0;
    ++used_;
  }
  ++refcount_[i];
}

void BlockPool::release(int32_t block) {
  check_id(block);
  const auto i = static_cast<size_t>(block);
  if (refcount_[i] <= 0) throw Error(fmt::format("double release of KV block {}", block));
  if (--refcount_[i] > 0) return;
  --used_;
  if (meta_[i]) {
    lru_pos_[i] = lru_.insert(lru_.end(), block);
    in_lru_[i] = 1;
  } else {
    free_.push_back(block);
  }
}

int32_t BlockPool::refcount(int32_t block) const {
  check_id(block);
  return refcount_[static_cast<size_t>(block)];
}

bool BlockPool::publish(int32_t block, PublishedBlock meta) {
  check_id(block);
  const auto i = static_cast<size_t>(block);
  if (refcount_[i] <= 0) throw Error(fmt::format("publish of unused KV block {}", block));
  if (meta_[i] || by_hash_.count(meta.chain_hash)) return false;
  by_hash_.emplace(meta.chain_hash, block);
  meta_[i] = std::move(meta);
  return true;
}

std::optional<int32_t> BlockPool::find(uint64_t chain_hash) const {
  const auto it = by_hash_.find(chain_hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

const PublishedBlock* BlockPool::published(int32_t block) const {
  check_id(block);
  const auto& m = meta_[static_cast<size_t>(block)];
  return m ? &*m : nullptr;
}

void BlockPool::check_invariants() const {
  int64_t used = 0, cached = 0, published = 0;
  std::vector<uint8_t> on_free(refcount_.size(), 0);
  for (int32_t b : free_) {
    const auto i = static_cast<size_t>(b);
    if (on_free[i]) throw Error(fmt::format("KV block {} is twice on the free list", b));
    on_free[i] = 1;
    if (refcount_[i] != 0 || meta_[i]) throw Error(fmt::format("KV block {} on the free list is in use or published", b));
  }
  for (int32_t b : lru_) {
    const auto i = static_cast<size_t>(b);
    if (!in_lru_[i] || refcount_[i] != 0 || !meta_[i]) throw Error(fmt::format("KV block {} in the LRU is not cached", b));
  }
  for (size_t i = 0; i < refcount_.size(); ++i) {
    if (refcount_[i] < 0) throw Error(fmt::format("KV block {} has refcount {}", i, refcount_[i]));
    if (refcount_[i] > 0) ++used;
    if (refcount_[i] == 0 && in_lru_[i]) ++cached;
    if (refcount_[i] == 0 && !in_lru_[i] && !on_free[i]) throw Error(fmt::format("KV block {} leaked", i));
    if (meta_[i]) {
      ++published;
      const auto it = by_hash_.find(meta_[i]->chain_hash);
      if (it == by_hash_.end() || it->second != static_cast<int32_t>(i)) {
        throw Error(fmt::format("KV block {} is published but not indexed", i));
      }
    }
  }
  if (used != used_) throw Error(fmt::format("used counter {} != {} counted", used_, used));
  if (cached != this->cached()) throw Error(fmt::format("LRU size {} != {} counted", this->cached(), cached));
  if (used + cached + free() != total()) throw Error("used + cached + free != total");
  if (published != static_cast<int64_t>(by_hash_.size())) throw Error("hash index size != published blocks");
}

}  // namespace hearth
