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
// the stored size and a use counter for LRU. Data that zstd does not shrink by at least
// compress_min_saving (random-ish F16/F32 KV rarely does) is stored raw: a data blob exactly
// raw_bytes long is raw, any other length is a zstd frame (save() never keeps a frame that long).
// save() compresses and checksums on several threads before it takes the write lock.
//
// Restore speed (load_chain): the window's rows are found in one read transaction with a
// statement prepared once; then several threads, each with its own connection (kept open), copy
// the blobs once from SQLite's pages (incremental blob I/O, memory-mapped file) straight into the
// records, decompress and checksum them. LRU positions of loaded blocks are written later, with
// the next save (or flush_use() / destruction), not one write per load.
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

struct sqlite3_blob;

namespace hearth {

class SettingsStore;

struct SqliteKvStoreOptions {
  int64_t max_total_bytes = int64_t{2} << 30;    // setting "kv_cache.max_bytes"
  int64_t max_group_bytes = int64_t{512} << 20;  // setting "kv_cache.max_group_bytes"
  int compression_level = 1;                     // zstd: restore speed matters more than ratio
  double compress_min_saving = 0.125;            // keep a zstd frame only when it saves this fraction
  int verify_threads = 0;                        // threads of load_chain (read, verify) and save (compress); 0: cores, at most 8
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
  ~SqliteKvStore() override;  // writes pending LRU positions
  static std::filesystem::path default_path();  // user_data_dir()/kv-cache.db

  void save(const KvFingerprint& fingerprint, const std::string& group, std::span<const KvBlockRecord> blocks) override;
  std::optional<KvBlockRecord> load(const KvFingerprint& fingerprint, uint64_t chain_hash) override;
  std::vector<std::optional<KvBlockRecord>> load_chain(const KvFingerprint& fingerprint,
                                                       std::span<const uint64_t> chain_hashes) override;
  bool contains(const KvFingerprint& fingerprint, uint64_t chain_hash) override;
  // Writes the LRU positions of blocks loaded since the last save (errors are logged).
  void flush_use();

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

  struct PendingBlock;
  // The rows of consecutive chain hashes without their data (stopping at the first absent or bad one).
  void read_headers(const KvFingerprint& fingerprint, int64_t block_bytes, std::span<const uint64_t> chain_hashes,
                    std::vector<PendingBlock>& out);
  // Their data, read, decompressed and checked on several threads and connections.
  void fetch_rows(std::vector<PendingBlock>& rows, int64_t block_bytes);
  static void fetch_row(sqlite3* db, sqlite3_blob*& blob, PendingBlock& row, int64_t block_bytes);
  void flush_use_in_transaction();
  size_t worker_threads() const;  // verify_threads, or the cores (at most 8)

  std::filesystem::path path_;
  SqliteKvStoreOptions options_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Statement> select_row_;   // prepared once (after db_: finalized before it closes)
  std::unique_ptr<Statement> contains_row_;
  std::vector<std::unique_ptr<Database>> readers_;  // load_chain's extra threads, one connection each
  std::vector<int64_t> used_ids_;           // loaded since the last flush, oldest first
};

}  // namespace hearth
