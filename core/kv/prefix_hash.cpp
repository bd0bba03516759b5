#include "core/kv/prefix_hash.h"

#include <cstring>
#include <vector>

// Header-only use of libxxhash (Debian libxxhash-dev): nothing to link.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace hearth {

uint64_t fingerprint_seed(const KvFingerprint& f) {
  const KvGeometry& g = f.geometry;
  const uint64_t words[] = {f.model_hash,
                            static_cast<uint64_t>(g.n_layer),
                            static_cast<uint64_t>(g.n_kv_head),
                            static_cast<uint64_t>(g.head_dim),
                            static_cast<uint64_t>(g.block_tokens),
                            static_cast<uint64_t>(g.dtype)};
  return XXH3_64bits(words, sizeof(words));
}

uint64_t chain_hash(uint64_t seed, uint64_t parent_hash, std::span<const TokenId> block_tokens) {
  // [parent hash (8 bytes)][token ids (4 bytes each)] hashed in one call.
  std::vector<unsigned char> bytes(sizeof(parent_hash) + block_tokens.size_bytes());
  std::memcpy(bytes.data(), &parent_hash, sizeof(parent_hash));
  if (!block_tokens.empty()) std::memcpy(bytes.data() + sizeof(parent_hash), block_tokens.data(), block_tokens.size_bytes());
  const uint64_t h = XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
  return h == 0 ? 1 : h;  // 0 means "no parent"
}

}  // namespace hearth
