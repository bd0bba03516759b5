#pragma once
// The engine's bookkeeping of the backend's KV block pool: which blocks are in use (and by how
// many block tables), which hold a published full prefix block (the prefix cache), and which are
// free. The KV bytes themselves live in the backend; this class only hands out ids.
//
// Every block is in exactly one of three states:
//   used    refcount > 0 (held by one or more block tables; published or not)
//   cached  refcount == 0, published under a chain hash, in the LRU (evictable)
//   free    refcount == 0, not published, on the free list
// allocate() takes a free block first and evicts the least recently used cached block only
// when none is free, so finished sequences' prefixes stay reusable until memory is needed.
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/kv/kv_store.h"

namespace hearth {

// What a published block holds; enough to save it to a KvStore when it is evicted.
struct PublishedBlock {
  uint64_t chain_hash = 0;
  uint64_t parent_hash = 0;
  std::vector<TokenId> tokens;
};

class BlockPool {
 public:
  explicit BlockPool(int64_t n_blocks);

  int64_t total() const { return static_cast<int64_t>(refcount_.size()); }
  int64_t used() const { return used_; }
  int64_t cached() const { return static_cast<int64_t>(lru_.size()); }
  int64_t free() const { return static_cast<int64_t>(free_.size()); }
  // Blocks allocate() can hand out right now (free + evictable).
  int64_t available() const { return free() + cached(); }
  uint64_t evictions() const { return evictions_; }

  // A block with refcount 1, or nullopt when every block is in use.
  std::optional<int32_t> allocate();
  // One more table holds `block`; a cached block leaves the LRU (it is in use again).
  void retain(int32_t block);
  // One table less; at zero a published block becomes cached, any other block free.
  // Throws hearth::Error on a double release.
  void release(int32_t block);
  int32_t refcount(int32_t block) const;

  // Publishes a full block under its chain hash so later prompts can reuse it. Returns false
  // (and changes nothing) when another block already holds this hash or `block` is published.
  bool publish(int32_t block, PublishedBlock meta);
  // The block published under this hash, or nullopt. Does not retain it.
  std::optional<int32_t> find(uint64_t chain_hash) const;
  const PublishedBlock* published(int32_t block) const;  // nullptr when not published

  // Called with a cached block and its metadata right before allocate() evicts it (KvStore save).
  void set_eviction_hook(std::function<void(int32_t, const PublishedBlock&)> hook) { on_evict_ = std::move(hook); }

  // Recounts every state from scratch and throws hearth::Error naming the first inconsistency
  // (tests, debug builds).
  void check_invariants() const;

 private:
  void check_id(int32_t block) const;

  std::vector<int32_t> refcount_;
  std::vector<std::optional<PublishedBlock>> meta_;  // [block]: set while published
  std::unordered_map<uint64_t, int32_t> by_hash_;
  std::vector<int32_t> free_;                        // LIFO: recently freed blocks are warm
  std::list<int32_t> lru_;                           // cached blocks, least recently used first
  std::vector<std::list<int32_t>::iterator> lru_pos_;  // [block]: valid while cached
  std::vector<uint8_t> in_lru_;
  int64_t used_ = 0;
  uint64_t evictions_ = 0;
  std::function<void(int32_t, const PublishedBlock&)> on_evict_;
};

}  // namespace hearth
