#pragma once
// Where full prefix blocks of KV go when the engine lets go of them, and where they come back
// from after a restart (persistent prefix cache). The engine (core/engine, core/kv) calls it;
// storage/ implements it over SQLite. No Qt, no SQLite types here.
//
// Keys: a block is named by its chain hash, hash(parent chain hash, the block's token ids,
// model fingerprint), so equal hashes mean equal prefixes of equal models. The fingerprint also
// covers the KV layout (KvGeometry: dtype, block size, heads), so a block saved by one backend
// or build is never fed to another that lays KV out differently.
//
// Everything a store returns is untrusted: an implementation verifies length, checksum,
// fingerprint and layout, and answers "not found" (and deletes the entry) when they do not match.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/kv/kv_geometry.h"

namespace hearth {

using TokenId = int32_t;

struct KvFingerprint {
  uint64_t model_hash = 0;  // hash of the weights (or of the GGUF tensor table + data sample)
  KvGeometry geometry;      // the block layout the bytes are in

  bool operator==(const KvFingerprint&) const = default;
};

struct KvBlockRecord {
  uint64_t chain_hash = 0;         // this block's key
  uint64_t parent_hash = 0;        // the chain hash of the block before it (0 for the first)
  std::vector<TokenId> tokens;     // the block's tokens, geometry.block_tokens of them
  std::vector<std::byte> data;     // geometry.block_bytes(), layout of kv_geometry.h
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // Saves blocks of one prefix, in chain order. `group` names what they belong to (a
  // conversation id, "system-prompt", ...) so a per-group cap can apply. Failures (disk full)
  // are logged and swallowed: the cache is an optimization, never a reason to fail a request.
  virtual void save(const KvFingerprint& fingerprint, const std::string& group,
                    std::span<const KvBlockRecord> blocks) = 0;

  // The verified block with this chain hash, or nullopt (absent, corrupt or mismatched).
  virtual std::optional<KvBlockRecord> load(const KvFingerprint& fingerprint, uint64_t chain_hash) = 0;

  // Cheap presence check (no blob read) so the engine can find the longest stored prefix first.
  virtual bool contains(const KvFingerprint& fingerprint, uint64_t chain_hash) = 0;

  // Consecutive blocks of one chain, as load() returns them: out[i] answers chain_hashes[i];
  // after the first block that is absent or bad the rest are nullopt (a prefix is only usable up
  // to its first gap). Restoring a long prompt is bound by this, so an implementation may read
  // the blocks in one transaction and verify them in parallel; the default loads one by one.
  virtual std::vector<std::optional<KvBlockRecord>> load_chain(const KvFingerprint& fingerprint,
                                                               std::span<const uint64_t> chain_hashes) {
    std::vector<std::optional<KvBlockRecord>> out(chain_hashes.size());
    for (size_t i = 0; i < chain_hashes.size(); ++i) {
      out[i] = load(fingerprint, chain_hashes[i]);
      if (!out[i]) break;
    }
    return out;
  }
};

}  // namespace hearth
