#include "core/kv/kv_cache.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/common/error.h"
#include "core/kv/prefix_hash.h"

namespace hearth {

KvCache::KvCache(int64_t n_blocks, int64_t block_tokens, uint64_t hash_seed)
    : block_tokens_(block_tokens), seed_(hash_seed), pool_(n_blocks) {
  if (block_tokens <= 0 || block_tokens > (1 << 20)) throw Error(fmt::format("KV block size {} is out of range", block_tokens));
}

PrefixMatch KvCache::match_prefix(BlockTable& table, std::span<const TokenId> tokens, int64_t max_tokens,
                                  const HasBlockFn& has, const RestoreBlockFn& restore) {
  if (!table.blocks.empty()) throw Error("match_prefix needs an empty block table");
  PrefixMatch match;
  const int64_t limit = std::min<int64_t>(max_tokens, static_cast<int64_t>(tokens.size()));
  uint64_t parent = 0;
  for (int64_t begin = 0; begin + block_tokens_ <= limit; begin += block_tokens_) {
    const auto block_tokens = tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(block_tokens_));
    const uint64_t hash = chain_hash(seed_, parent, block_tokens);
    if (const auto hit = pool_.find(hash)) {
      pool_.retain(*hit);
      table.blocks.push_back(*hit);
      match.cached_tokens += block_tokens_;
    } else {
      if (!restore || !has || !has(hash)) break;
      const auto block = pool_.allocate();
      if (!block) break;
      PublishedBlock meta{hash, parent, {block_tokens.begin(), block_tokens.end()}};
      if (!restore(meta, *block)) {
        pool_.release(*block);
        break;
      }
      pool_.publish(*block, std::move(meta));
      table.blocks.push_back(*block);
      match.restored_tokens += block_tokens_;
    }
    table.hashes.push_back(hash);
    parent = hash;
  }
  return match;
}

int64_t KvCache::blocks_to_write(const BlockTable& table, int64_t write_begin, int64_t n_end) const {
  if (n_end <= write_begin) return 0;
  const int64_t have = static_cast<int64_t>(table.blocks.size());
  const int64_t need = blocks_for(n_end);
  int64_t count = std::max<int64_t>(0, need - have);
  for (int64_t i = write_begin / block_tokens_; i < std::min(have, need); ++i) {
    const int32_t b = table.blocks[static_cast<size_t>(i)];
    if (pool_.refcount(b) > 1 || pool_.published(b)) ++count;
  }
  return count;
}

bool KvCache::prepare_write(BlockTable& table, int64_t write_begin, int64_t n_end, const CopyBlockFn& copy) {
  if (n_end <= write_begin) return true;
  if (write_begin < 0) throw Error("prepare_write: negative position");
  if (blocks_to_write(table, write_begin, n_end) > pool_.available()) return false;
  const int64_t have = static_cast<int64_t>(table.blocks.size());
  const int64_t need = blocks_for(n_end);
  const int64_t first = write_begin / block_tokens_;
  for (int64_t i = first; i < std::min(have, need); ++i) {
    int32_t& b = table.blocks[static_cast<size_t>(i)];
    if (pool_.refcount(b) == 1 && !pool_.published(b)) continue;
    const int32_t fresh = *pool_.allocate();  // counted above
    copy(b, fresh);
    pool_.release(b);
    b = fresh;
  }
  // A block being written is no longer a computed full block of this chain.
  if (static_cast<int64_t>(table.hashes.size()) > first) table.hashes.resize(static_cast<size_t>(first));
  for (int64_t i = have; i < need; ++i) table.blocks.push_back(*pool_.allocate());
  return true;
}

void KvCache::publish_full_blocks(BlockTable& table, std::span<const TokenId> tokens, int64_t n_computed) {
  const int64_t limit = std::min<int64_t>(n_computed, static_cast<int64_t>(tokens.size()));
  for (auto i = static_cast<int64_t>(table.hashes.size());
       i < static_cast<int64_t>(table.blocks.size()) && (i + 1) * block_tokens_ <= limit; ++i) {
    const uint64_t parent = i == 0 ? 0 : table.hashes[static_cast<size_t>(i - 1)];
    const auto block_tokens = tokens.subspan(static_cast<size_t>(i * block_tokens_), static_cast<size_t>(block_tokens_));
    const uint64_t hash = chain_hash(seed_, parent, block_tokens);
    // false: an equal block is already published (this one stays a private duplicate).
    pool_.publish(table.blocks[static_cast<size_t>(i)],
                  PublishedBlock{hash, parent, {block_tokens.begin(), block_tokens.end()}});
    table.hashes.push_back(hash);
  }
}

void KvCache::truncate(BlockTable& table, int64_t n_tokens) {
  if (n_tokens < 0) throw Error("KvCache::truncate: negative length");
  const auto keep = static_cast<size_t>(blocks_for(n_tokens));
  while (table.blocks.size() > keep) {
    pool_.release(table.blocks.back());
    table.blocks.pop_back();
  }
  const auto full = static_cast<size_t>(n_tokens / block_tokens_);
  if (table.hashes.size() > full) table.hashes.resize(full);
}

BlockTable KvCache::fork(const BlockTable& table) {
  for (int32_t b : table.blocks) pool_.retain(b);
  return table;
}

void KvCache::release(BlockTable& table) {
  for (int32_t b : table.blocks) pool_.release(b);
  table.blocks.clear();
  table.hashes.clear();
}

}  // namespace hearth
