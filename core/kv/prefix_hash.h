#pragma once
// Chain hashes that name full KV blocks (the prefix cache keys, and the KvStore keys):
//   hash_i = XXH3_64(parent = hash_{i-1} (0 for the first block), the block's token ids; seed)
// where the seed is the hash of the KvFingerprint (model weights + KV layout). Equal hashes mean
// equal token prefixes of the same model in the same layout.
#include <cstdint>
#include <span>

#include "core/kv/kv_store.h"

namespace hearth {

uint64_t fingerprint_seed(const KvFingerprint& fingerprint);
uint64_t chain_hash(uint64_t seed, uint64_t parent_hash, std::span<const TokenId> block_tokens);

}  // namespace hearth
