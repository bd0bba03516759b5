#pragma once
// Paged KV bookkeeping for the engine: per-sequence block tables over one BlockPool, prefix
// reuse through the chain-hash index, and copy-on-write. Model-free: the KV bytes are moved
// through callbacks (the engine passes Backend::copy_kv_block etc.), so tests can drive it alone.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/kv/block_pool.h"

namespace hearth {

// One sequence's view of the pool: blocks[i] holds positions [i * block_tokens, (i+1) * block_tokens).
struct BlockTable {
  std::vector<int32_t> blocks;
  // Chain hashes of the leading full, computed blocks (hashes.size() <= blocks.size()). Those
  // blocks are published, or duplicates of a block already published under the same hash.
  std::vector<uint64_t> hashes;
};

struct PrefixMatch {
  int64_t cached_tokens = 0;    // reused from blocks in memory
  int64_t restored_tokens = 0;  // loaded through the restore callback (KvStore)
};

// Writes the KV of a stored block into `block`; false when it is not available after all.
using RestoreBlockFn = std::function<bool(const PublishedBlock& meta, int32_t block)>;
// Pool block `dst` := block `src` (Backend::copy_kv_block).
using CopyBlockFn = std::function<void(int32_t src, int32_t dst)>;
// True when the store has a block under this chain hash (KvStore::contains).
using HasBlockFn = std::function<bool(uint64_t chain_hash)>;

class KvCache {
 public:
  KvCache(int64_t n_blocks, int64_t block_tokens, uint64_t hash_seed);

  int64_t block_tokens() const { return block_tokens_; }
  int64_t blocks_for(int64_t n_tokens) const { return (n_tokens + block_tokens_ - 1) / block_tokens_; }
  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  uint64_t hash_seed() const { return seed_; }

  // Fills an empty table with the longest run of full blocks of `tokens` that is cached in
  // memory (or, through `has`/`restore`, in a store), using at most `max_tokens` tokens. The
  // blocks are retained by the table; positions below the returned count need no compute.
  PrefixMatch match_prefix(BlockTable& table, std::span<const TokenId> tokens, int64_t max_tokens,
                           const HasBlockFn& has = {}, const RestoreBlockFn& restore = {});

  // New blocks prepare_write would take from the pool (table growth + copies on write).
  int64_t blocks_to_write(const BlockTable& table, int64_t write_begin, int64_t n_end) const;
  // Makes the table cover n_end positions with blocks the sequence may write at positions
  // [write_begin, n_end): a block there that is shared or published is copied first (copy-on-
  // write). All or nothing: false (nothing changed) when the pool has too few blocks.
  bool prepare_write(BlockTable& table, int64_t write_begin, int64_t n_end, const CopyBlockFn& copy);

  // Publishes the table's full blocks whose positions are all computed (< n_computed), so later
  // prompts can reuse them. `tokens` are the sequence's tokens from position 0.
  void publish_full_blocks(BlockTable& table, std::span<const TokenId> tokens, int64_t n_computed);

  // Rollback (speculative decoding): keeps the blocks that hold positions [0, n_tokens) and
  // releases the rest of the tail; hashes keep only blocks that are still full (< n_tokens).
  // Positions >= n_tokens in the last kept block are garbage and are rewritten before any read.
  void truncate(BlockTable& table, int64_t n_tokens);

  // A second table sharing every block (parallel sampling, forks); writes will copy.
  BlockTable fork(const BlockTable& table);
  // Drops the table's references; published blocks stay cached until evicted.
  void release(BlockTable& table);

 private:
  int64_t block_tokens_;
  uint64_t seed_;
  BlockPool pool_;
};

}  // namespace hearth
