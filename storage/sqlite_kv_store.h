#pragma once
// The persistent prefix/KV cache (KvStore of core/kv/kv_store.h) over SQLite.
//
// It lives in its own file, kv-cache.db, next to hearth.db and never inside it: the cache may be
// large, is written by the engine thread while the GUI writes conversations, runs with
// synchronous=NORMAL (losing the last saves on power loss costs a recompute, nothing more), and
// can be deleted at any time. A cache file that SQLite cannot open as a database is deleted
// and created afresh. So the cache can never endanger or slow the user's conversations.
//
// Row per block: key (fingerprint hash, chain hash), parent hash, group, model hash and
// geometry (checked again on load, so a fingerprint-hash collision cannot feed a block of one
// layout to another), the block's tokens (int32 little-endian), its data zstd-compressed, the
// uncompressed size, an XXH3-64 checksum of tokens bytes followed by the uncompressed data,
// the stored size and a use counter for LRU.
//
// Size caps on stored (compressed) bytes: a total cap (default 2 GiB) and a per-group cap so
// one long conversation cannot take it all; the least recently used blocks go first. Within one
// save() the later blocks of the chain count as older, so a prefix is trimmed from its end.
//
// Not thread-safe: one thread (the engine's) uses a store; another thread opens its own.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/kv/kv_store.h"
#include "storage/database.h"

namespace hearth {

class SettingsStore;

struct SqliteKvStoreOptions {
  int64_t max_total_bytes = int64_t{2} << 30;    // setting "kv_cache.max_bytes"
  int64_t max_group_bytes = int64_t{512} << 20;  // setting "kv_cache.max_group_bytes"
  int compression_level = 1;                     // zstd: restore speed matters more than ratio
};

// The caps from the settings table (keys above), defaults where unset or unparsable.
SqliteKvStoreOptions kv_store_options_from_settings(SettingsStore& settings);

// What a fingerprint's blocks are keyed by: XXH3-64 of the model hash and every geometry field.
uint64_t kv_fingerprint_hash(const KvFingerprint& fingerprint);

struct KvEntryInfo {
  uint64_t chain_hash = 0;
  uint64_t parent_hash = 0;
  std::string group;
  int64_t stored_bytes = 0;
  int64_t last_used = 0;  // larger: used more recently
};

class SqliteKvStore final : public KvStore {
 public:
  // Opens or creates the cache. Throws StorageError only when no database can be created at
  // `path` (unwritable directory); the engine then runs without a persistent cache.
  explicit SqliteKvStore(const std::filesystem::path& path, const SqliteKvStoreOptions& options = {});
  static std::filesystem::path default_path();  // user_data_dir()/kv-cache.db

  void save(const KvFingerprint& fingerprint, const std::string& group, std::span<const KvBlockRecord> blocks) override;
  std::optional<KvBlockRecord> load(const KvFingerprint& fingerprint, uint64_t chain_hash) override;
  bool contains(const KvFingerprint& fingerprint, uint64_t chain_hash) override;

  // New caps, applied at once (evicting). Errors are logged, like save().
  void set_limits(int64_t max_total_bytes, int64_t max_group_bytes);
  int64_t stored_bytes();                  // all groups
  std::vector<KvEntryInfo> entries();      // least recently used first (diagnostics, tests)
  void clear();

  Database& database() { return *db_; }

 private:
  void evict_over_caps(const std::string& group);  // the group's cap, then the total cap
  void evict_over_group_cap(const std::string& group);
  void evict_over_total_cap();

  std::filesystem::path path_;
  SqliteKvStoreOptions options_;
  std::unique_ptr<Database> db_;
};

}  // namespace hearth
