#include "storage/sqlite_kv_store.h"

#include <sqlite3.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <atomic>
#include <charconv>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/common/checked_math.h"
#include "core/common/logging.h"
#include "storage/preset_store.h"

namespace hearth {
namespace {

constexpr MigrationStep kKvSchema[] = {
    {"kv_blocks", R"sql(
CREATE TABLE kv_blocks (
  id           INTEGER PRIMARY KEY,
  fingerprint  INTEGER NOT NULL,  -- kv_fingerprint_hash(), u64 stored as i64
  chain_hash   INTEGER NOT NULL,
  parent_hash  INTEGER NOT NULL,
  group_name   TEXT    NOT NULL,
  model_hash   INTEGER NOT NULL,
  n_layer      INTEGER NOT NULL,
  n_kv_head    INTEGER NOT NULL,
  head_dim     INTEGER NOT NULL,
  block_tokens INTEGER NOT NULL,
  dtype        INTEGER NOT NULL,
  raw_bytes    INTEGER NOT NULL,  -- uncompressed data size
  stored_bytes INTEGER NOT NULL,  -- length(tokens) + length(data), what the caps count
  checksum     INTEGER NOT NULL,  -- XXH3-64 of tokens bytes then uncompressed data
  last_used    INTEGER NOT NULL,
  tokens       BLOB    NOT NULL,  -- blobs last: scans of the other columns skip their pages
  data         BLOB    NOT NULL,
  UNIQUE (fingerprint, chain_hash)
);
CREATE INDEX kv_blocks_by_use ON kv_blocks(last_used);
CREATE INDEX kv_blocks_by_group_use ON kv_blocks(group_name, last_used);
)sql"},
};

// SQLite integers are signed; hashes keep their 64 bits.
int64_t as_i64(uint64_t v) { return std::bit_cast<int64_t>(v); }
uint64_t as_u64(int64_t v) { return std::bit_cast<uint64_t>(v); }

// Bytes of one block of `g`, or nullopt when the geometry is nonsense or overflows.
std::optional<int64_t> checked_block_bytes(const KvGeometry& g) {
  if (g.n_layer <= 0 || g.n_kv_head <= 0 || g.head_dim <= 0 || g.block_tokens <= 0) return std::nullopt;
  if (g.dtype != DType::F32 && g.dtype != DType::F16 && g.dtype != DType::BF16) return std::nullopt;
  int64_t n = 2;
  for (int64_t f : {g.n_layer, g.n_kv_head, g.block_tokens, g.head_dim, g.element_bytes()}) {
    if (!checked_mul(n, f, n)) return std::nullopt;
  }
  return n;
}

std::span<const std::byte> token_bytes(const std::vector<TokenId>& tokens) {
  return std::as_bytes(std::span<const TokenId>(tokens));
}

uint64_t block_checksum(std::span<const std::byte> tokens, std::span<const std::byte> data) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, tokens.data(), tokens.size());
  XXH3_64bits_update(&state, data.data(), data.size());
  return XXH3_64bits_digest(&state);
}

std::unique_ptr<Database> open_cache(const std::filesystem::path& path) {
  const DatabaseOptions options{Durability::Normal, 2000};
  try {
    auto db = std::make_unique<Database>(path, options);
    db->migrate(kKvSchema);
    return db;
  } catch (const StorageError& e) {
    const int primary = e.sqlite_code() & 0xff;
    if (primary != SQLITE_NOTADB && primary != SQLITE_CORRUPT && primary != SQLITE_ERROR) throw;
    // A damaged or foreign cache file (or one from a newer Hearth): it holds nothing that cannot
    // be recomputed, so start over rather than run without a cache.
    spdlog::warn("kv cache: {}; deleting {} and starting an empty cache", e.what(), path.string());
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix, ec);
    auto db = std::make_unique<Database>(path, options);
    db->migrate(kKvSchema);
    return db;
  }
}

// Reads of whole blocks go through the memory-mapped file (no read() copy) and a page cache big
// enough for the b-tree pages of a long chain. Both are per connection and best effort.
void tune_for_large_reads(Database& db) {
  try {
    db.exec("PRAGMA mmap_size=2147418112");  // SQLite's default compile-time maximum (~2 GiB)
    db.exec("PRAGMA cache_size=-65536");     // KiB: 64 MiB
  } catch (const StorageError& e) {
    spdlog::debug("kv cache: tuning the connection failed: {}", e.what());
  }
}

int64_t parse_size_setting(const std::optional<std::string>& text, int64_t fallback, const char* key) {
  if (!text) return fallback;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || value < 0) {
    spdlog::warn("setting {}=\"{}\" is not a byte count; using {}", key, *text, fallback);
    return fallback;
  }
  return value;
}

}  // namespace

SqliteKvStoreOptions kv_store_options_from_settings(SettingsStore& settings) {
  SqliteKvStoreOptions options;
  options.max_total_bytes =
      parse_size_setting(settings.get("kv_cache.max_bytes"), options.max_total_bytes, "kv_cache.max_bytes");
  options.max_group_bytes =
      parse_size_setting(settings.get("kv_cache.max_group_bytes"), options.max_group_bytes, "kv_cache.max_group_bytes");
  return options;
}

uint64_t kv_fingerprint_hash(const KvFingerprint& f) {
  const int64_t fields[] = {as_i64(f.model_hash), f.geometry.n_layer,      f.geometry.n_kv_head,
                            f.geometry.head_dim,  f.geometry.block_tokens, static_cast<int64_t>(f.geometry.dtype)};
  return XXH3_64bits(fields, sizeof fields);
}

SqliteKvStore::SqliteKvStore(const std::filesystem::path& path, const SqliteKvStoreOptions& options)
    : path_(path), options_(options), db_(open_cache(path)) {
  tune_for_large_reads(*db_);
  select_row_ = std::make_unique<Statement>(db_->prepare(
      "SELECT id, parent_hash, model_hash, n_layer, n_kv_head, head_dim, block_tokens, dtype, raw_bytes, checksum, "
      "tokens, length(data) FROM kv_blocks WHERE fingerprint = ?1 AND chain_hash = ?2"));
  contains_row_ =
      std::make_unique<Statement>(db_->prepare("SELECT 1 FROM kv_blocks WHERE fingerprint = ?1 AND chain_hash = ?2"));
}

SqliteKvStore::~SqliteKvStore() { flush_use(); }

std::filesystem::path SqliteKvStore::default_path() { return user_data_dir() / "kv-cache.db"; }

namespace {

// Runs fn(i) for i in [0, n) on up to `threads` threads (the caller's included).
template <typename Fn>
void parallel_for(size_t n, size_t threads, const Fn& fn) {
  threads = std::max<size_t>(1, std::min(threads, n));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::jthread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
}

// What save() writes for one block, computed before the write transaction (and in parallel).
struct EncodedBlock {
  bool valid = false;
  std::vector<std::byte> frame;  // zstd frame, or empty: the data is stored raw
  uint64_t checksum = 0;
};

// The block's data as it is stored: a zstd frame only where it saves at least `min_saving` of the
// size (random-ish F16/F32 KV rarely compresses; raw restores are a copy, not a decompression).
// A probe of the first 64 KiB skips compressing whole blocks that clearly will not shrink.
void encode_block(const KvBlockRecord& b, int level, double min_saving, EncodedBlock& out) {
  out.checksum = block_checksum(token_bytes(b.tokens), b.data);
  out.valid = true;
  min_saving = std::clamp(min_saving, 0.0, 1.0);
  const size_t limit = static_cast<size_t>(static_cast<double>(b.data.size()) * (1.0 - min_saving));
  std::vector<std::byte> buffer;
  const size_t probe = std::min<size_t>(b.data.size(), size_t{64} << 10);
  if (probe < b.data.size()) {
    buffer.resize(ZSTD_compressBound(probe));
    const size_t packed = ZSTD_compress(buffer.data(), buffer.size(), b.data.data(), probe, level);
    if (ZSTD_isError(packed) || static_cast<double>(packed) > static_cast<double>(probe) * (1.0 - min_saving / 2)) return;
  }
  buffer.resize(ZSTD_compressBound(b.data.size()));
  const size_t packed = ZSTD_compress(buffer.data(), buffer.size(), b.data.data(), b.data.size(), level);
  if (ZSTD_isError(packed) || packed >= limit || packed >= b.data.size()) return;  // raw
  buffer.resize(packed);
  out.frame = std::move(buffer);
}

}  // namespace

void SqliteKvStore::save(const KvFingerprint& fingerprint, const std::string& group,
                         std::span<const KvBlockRecord> blocks) {
  if (blocks.empty()) return;
  const auto block_bytes = checked_block_bytes(fingerprint.geometry);
  if (!block_bytes) {
    spdlog::warn("kv cache: not saving blocks with an invalid geometry");
    return;
  }
  try {
    const uint64_t key = kv_fingerprint_hash(fingerprint);
    const KvGeometry& g = fingerprint.geometry;
    // Checksums and compression first, on several threads and outside the write lock.
    std::vector<EncodedBlock> encoded(blocks.size());
    parallel_for(blocks.size(), worker_threads(), [&](size_t i) {
      const KvBlockRecord& b = blocks[i];
      if (static_cast<int64_t>(b.tokens.size()) != g.block_tokens || static_cast<int64_t>(b.data.size()) != *block_bytes) {
        return;
      }
      encode_block(b, options_.compression_level, options_.compress_min_saving, encoded[i]);
    });
    auto tx = db_->transaction();
    flush_use_in_transaction();
    int64_t newest = 0;
    {
      auto st = db_->prepare("SELECT coalesce(max(last_used), 0) FROM kv_blocks");
      if (st.step()) newest = st.int64(0);
    }
    auto exists = db_->prepare("SELECT id FROM kv_blocks WHERE fingerprint = ?1 AND chain_hash = ?2");
    auto touch = db_->prepare("UPDATE kv_blocks SET last_used = ?2 WHERE id = ?1");
    auto insert = db_->prepare(
        "INSERT INTO kv_blocks (fingerprint, chain_hash, parent_hash, group_name, model_hash, n_layer, n_kv_head, "
        "head_dim, block_tokens, dtype, raw_bytes, stored_bytes, checksum, last_used, tokens, data) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    const int64_t n = static_cast<int64_t>(blocks.size());
    for (int64_t i = 0; i < n; ++i) {
      const KvBlockRecord& b = blocks[static_cast<size_t>(i)];
      const EncodedBlock& e = encoded[static_cast<size_t>(i)];
      const int64_t use = newest + (n - i);  // the chain's first block counts as the most recent
      if (!e.valid) {
        spdlog::warn("kv cache: not saving block {:016x}: {} tokens and {} bytes, expected {} and {}", b.chain_hash,
                     b.tokens.size(), b.data.size(), g.block_tokens, *block_bytes);
        continue;
      }
      exists.reset();
      exists.bind(1, as_i64(key)).bind(2, as_i64(b.chain_hash));
      if (exists.step()) {
        const int64_t id = exists.int64(0);
        exists.reset();
        touch.reset();
        touch.bind(1, id).bind(2, use);
        touch.run();
        continue;
      }
      exists.reset();
      const auto stored = e.frame.empty() ? std::span<const std::byte>(b.data) : std::span<const std::byte>(e.frame);
      const auto tokens = token_bytes(b.tokens);
      insert.reset();
      insert.bind(1, as_i64(key))
          .bind(2, as_i64(b.chain_hash))
          .bind(3, as_i64(b.parent_hash))
          .bind(4, group)
          .bind(5, as_i64(fingerprint.model_hash))
          .bind(6, g.n_layer)
          .bind(7, g.n_kv_head)
          .bind(8, g.head_dim)
          .bind(9, g.block_tokens)
          .bind(10, static_cast<int64_t>(g.dtype))
          .bind(11, *block_bytes)
          .bind(12, static_cast<int64_t>(tokens.size() + stored.size()))
          .bind(13, as_i64(e.checksum))
          .bind(14, use)
          .bind_blob(15, tokens)
          .bind_blob(16, stored);
      insert.run();
    }
    evict_over_caps(group);
    tx.commit();
  } catch (const std::exception& e) {
    // Disk full, a locked file, out of memory: the cache is an optimization, the request goes on.
    spdlog::warn("kv cache: saving {} blocks of group \"{}\" failed: {}", blocks.size(), group, e.what());
  }
}

size_t SqliteKvStore::worker_threads() const {
  if (options_.verify_threads > 0) return static_cast<size_t>(options_.verify_threads);
  return std::min<size_t>(8, std::max(1u, std::thread::hardware_concurrency()));
}

// One row read by load_chain: the record (tokens; data when stored raw), or the zstd frame still
// to decompress, and what is wrong with it (empty: nothing wrong so far).
struct SqliteKvStore::PendingBlock {
  int64_t id = 0;
  int64_t stored = 0;  // length of the data blob
  uint64_t checksum = 0;
  bool transient = false;  // the problem is a failed read (I/O, memory), not a bad entry
  KvBlockRecord record;
  std::vector<std::byte> frame;  // compressed data; empty when record.data holds raw bytes
  std::string problem;
};

std::optional<KvBlockRecord> SqliteKvStore::load(const KvFingerprint& fingerprint, uint64_t chain_hash) {
  auto out = load_chain(fingerprint, std::span<const uint64_t>(&chain_hash, 1));
  return std::move(out.front());
}

std::vector<std::optional<KvBlockRecord>> SqliteKvStore::load_chain(const KvFingerprint& fingerprint,
                                                                    std::span<const uint64_t> chain_hashes) {
  std::vector<std::optional<KvBlockRecord>> out(chain_hashes.size());
  const auto block_bytes = checked_block_bytes(fingerprint.geometry);
  if (chain_hashes.empty() || !block_bytes) return out;
  std::vector<PendingBlock> rows;
  try {
    read_headers(fingerprint, *block_bytes, chain_hashes, rows);
  } catch (const std::exception& e) {
    spdlog::warn("kv cache: loading {} blocks from {:016x} failed: {}", chain_hashes.size(), chain_hashes.front(),
                 e.what());
    return out;
  }
  fetch_rows(rows, *block_bytes);
  // Every check names what was wrong; a bad entry is deleted and ends the usable chain.
  std::vector<int64_t> bad;
  bool gap = false;
  for (size_t i = 0; i < rows.size(); ++i) {
    PendingBlock& row = rows[i];
    if (row.transient) {
      spdlog::warn("kv cache: block {:016x} not restored: {}", row.record.chain_hash, row.problem);
      gap = true;
    } else if (!row.problem.empty()) {
      spdlog::warn("kv cache: dropping block {:016x}: {}", row.record.chain_hash, row.problem);
      bad.push_back(row.id);
      gap = true;
    } else if (!gap) {
      used_ids_.push_back(row.id);
      out[i] = std::move(row.record);
    }
  }
  for (int64_t id : bad) {
    try {
      db_->prepare("DELETE FROM kv_blocks WHERE id = ?1").bind(1, id).run();
    } catch (const StorageError& e) {
      spdlog::warn("kv cache: deleting a bad block failed: {}", e.what());
    }
  }
  return out;
}

void SqliteKvStore::read_headers(const KvFingerprint& fingerprint, int64_t block_bytes,
                                 std::span<const uint64_t> chain_hashes, std::vector<PendingBlock>& out) {
  const KvGeometry& g = fingerprint.geometry;
  const int64_t token_bytes_expected = g.block_tokens * int64_t{sizeof(TokenId)};
  const int64_t frame_bound = static_cast<int64_t>(ZSTD_compressBound(static_cast<size_t>(block_bytes)));
  // One read transaction for the window: one snapshot, no lock churn per block.
  sqlite3* db = db_->handle();
  check_sqlite(db, sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), "kv cache: begin read");
  auto finish = [&] {
    select_row_->reset();
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);  // a read: nothing to lose if it fails
  };
  try {
    const int64_t key = as_i64(kv_fingerprint_hash(fingerprint));
    for (const uint64_t chain_hash : chain_hashes) {
      Statement& st = *select_row_;
      st.reset();
      st.bind(1, key).bind(2, as_i64(chain_hash));
      if (!st.step()) break;
      PendingBlock& row = out.emplace_back();
      row.id = st.int64(0);
      row.record.chain_hash = chain_hash;
      row.record.parent_hash = as_u64(st.int64(1));
      row.checksum = as_u64(st.int64(9));
      const auto tokens = st.blob(10);
      row.stored = st.int64(11);
      if (as_u64(st.int64(2)) != fingerprint.model_hash) {
        row.problem = "model hash differs";
      } else if (st.int64(3) != g.n_layer || st.int64(4) != g.n_kv_head || st.int64(5) != g.head_dim ||
                 st.int64(6) != g.block_tokens || st.int64(7) != static_cast<int64_t>(g.dtype)) {
        row.problem = "KV geometry differs";
      } else if (st.int64(8) != block_bytes) {
        row.problem = fmt::format("recorded size {} is not the block size {}", st.int64(8), block_bytes);
      } else if (static_cast<int64_t>(tokens.size()) != token_bytes_expected) {
        row.problem = fmt::format("{} token bytes, expected {}", tokens.size(), token_bytes_expected);
      } else if (row.stored <= 0 || row.stored > frame_bound || row.stored > int64_t{INT32_MAX}) {
        row.problem = fmt::format("stored data of {} bytes cannot hold a block of {}", row.stored, block_bytes);
      }
      if (!row.problem.empty()) break;  // the chain is unusable from here on
      row.record.tokens.resize(static_cast<size_t>(g.block_tokens));
      std::memcpy(row.record.tokens.data(), tokens.data(), tokens.size());
    }
  } catch (...) {
    finish();
    throw;
  }
  finish();
}

// Reads one row's data blob through `db` straight into its destination (raw data into the record,
// a frame aside), then decompresses and checks it. Any problem is recorded in the row.
void SqliteKvStore::fetch_row(sqlite3* db, sqlite3_blob*& blob, PendingBlock& row, int64_t block_bytes) {
  if (!row.problem.empty()) return;
  const int rc = blob ? sqlite3_blob_reopen(blob, row.id) : sqlite3_blob_open(db, "main", "kv_blocks", "data", row.id, 0, &blob);
  if (rc != SQLITE_OK) {
    row.problem = fmt::format("its data cannot be read as a blob: {}", sqlite3_errmsg(db));
    if (blob) sqlite3_blob_close(blob);
    blob = nullptr;
    return;
  }
  if (sqlite3_blob_bytes(blob) != row.stored) {
    row.problem = "the data changed while it was read";
    return;
  }
  std::vector<std::byte>& dst = row.stored == block_bytes ? row.record.data : row.frame;
  dst.resize(static_cast<size_t>(row.stored));
  if (sqlite3_blob_read(blob, dst.data(), static_cast<int>(row.stored), 0) != SQLITE_OK) {
    row.transient = true;  // an I/O error, not a bad entry: keep it
    row.problem = fmt::format("reading its data failed: {}", sqlite3_errmsg(db));
    return;
  }
  if (!row.frame.empty()) {
    const unsigned long long size = ZSTD_getFrameContentSize(row.frame.data(), row.frame.size());
    if (size != static_cast<unsigned long long>(block_bytes)) {
      row.problem = "compressed data is truncated or of the wrong size";
      return;
    }
    row.record.data.resize(static_cast<size_t>(block_bytes));
    const size_t got = ZSTD_decompress(row.record.data.data(), row.record.data.size(), row.frame.data(), row.frame.size());
    if (ZSTD_isError(got) || got != row.record.data.size()) {
      row.problem = fmt::format("decompression failed: {}", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
      return;
    }
    std::vector<std::byte>().swap(row.frame);
  }
  if (block_checksum(token_bytes(row.record.tokens), row.record.data) != row.checksum) row.problem = "checksum mismatch";
}

// The blobs of the rows on several threads, each with its own connection in its own read
// transaction (one SQLite connection serializes its callers): the copy out of the database,
// decompression and checksums all run in parallel. A row another process deleted in between
// fails its blob open and is treated like a bad entry (deleting it again is harmless).
void SqliteKvStore::fetch_rows(std::vector<PendingBlock>& rows, int64_t block_bytes) {
  size_t n_threads = std::max<size_t>(1, std::min(worker_threads(), rows.size()));
  std::vector<sqlite3*> connections = {db_->handle()};
  while (connections.size() < n_threads) {
    const size_t k = connections.size() - 1;
    try {
      if (readers_.size() <= k) {
        readers_.push_back(std::make_unique<Database>(path_, DatabaseOptions{Durability::Normal, 2000}));
        tune_for_large_reads(*readers_.back());
      }
      connections.push_back(readers_[k]->handle());
    } catch (const std::exception& e) {
      spdlog::debug("kv cache: opening a reader connection failed: {}", e.what());
      break;
    }
  }
  n_threads = connections.size();
  std::atomic<size_t> next{0};
  auto work = [&](sqlite3* db) {
    sqlite3_blob* blob = nullptr;
    const bool in_transaction = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
    for (size_t i; (i = next.fetch_add(1)) < rows.size();) {
      try {
        fetch_row(db, blob, rows[i], block_bytes);
      } catch (const std::exception& e) {  // out of memory
        rows[i].transient = true;
        rows[i].problem = e.what();
      }
    }
    if (blob) sqlite3_blob_close(blob);
    if (in_transaction) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  };
  std::vector<std::jthread> helpers;
  for (size_t t = 1; t < n_threads; ++t) helpers.emplace_back(work, connections[t]);
  work(connections[0]);
}

void SqliteKvStore::flush_use() {
  if (used_ids_.empty()) return;
  try {
    auto tx = db_->transaction();
    flush_use_in_transaction();
    tx.commit();
  } catch (const std::exception& e) {
    // The blocks are good; only their LRU positions are lost (disk full, busy).
    spdlog::debug("kv cache: marking {} blocks used failed: {}", used_ids_.size(), e.what());
    used_ids_.clear();
  }
}

// Loaded blocks become the most recently used, in load order.
void SqliteKvStore::flush_use_in_transaction() {
  if (used_ids_.empty()) return;
  int64_t newest = 0;
  {
    auto st = db_->prepare("SELECT coalesce(max(last_used), 0) FROM kv_blocks");
    if (st.step()) newest = st.int64(0);
  }
  auto touch = db_->prepare("UPDATE kv_blocks SET last_used = ?2 WHERE id = ?1");
  for (int64_t id : used_ids_) {
    touch.reset();
    touch.bind(1, id).bind(2, ++newest);
    touch.run();
  }
  used_ids_.clear();
}

bool SqliteKvStore::contains(const KvFingerprint& fingerprint, uint64_t chain_hash) {
  try {
    Statement& st = *contains_row_;
    st.reset();
    st.bind(1, as_i64(kv_fingerprint_hash(fingerprint))).bind(2, as_i64(chain_hash));
    const bool found = st.step();
    st.reset();
    return found;
  } catch (const std::exception& e) {
    spdlog::warn("kv cache: lookup failed: {}", e.what());
    return false;
  }
}

void SqliteKvStore::evict_over_caps(const std::string& group) {
  evict_over_group_cap(group);
  evict_over_total_cap();
}

// Keep the most recently used rows whose running total fits the cap; delete the rest.
void SqliteKvStore::evict_over_group_cap(const std::string& group) {
  db_->prepare(
         "DELETE FROM kv_blocks WHERE id IN (SELECT id FROM (SELECT id, sum(stored_bytes) OVER "
         "(ORDER BY last_used DESC, id DESC) AS kept FROM kv_blocks WHERE group_name = ?1) WHERE kept > ?2)")
      .bind(1, group)
      .bind(2, options_.max_group_bytes)
      .run();
}

void SqliteKvStore::evict_over_total_cap() {
  db_->prepare(
         "DELETE FROM kv_blocks WHERE id IN (SELECT id FROM (SELECT id, sum(stored_bytes) OVER "
         "(ORDER BY last_used DESC, id DESC) AS kept FROM kv_blocks) WHERE kept > ?1)")
      .bind(1, options_.max_total_bytes)
      .run();
}

void SqliteKvStore::set_limits(int64_t max_total_bytes, int64_t max_group_bytes) {
  options_.max_total_bytes = max_total_bytes;
  options_.max_group_bytes = max_group_bytes;
  try {
    auto tx = db_->transaction();
    flush_use_in_transaction();
    std::vector<std::string> groups;
    auto st = db_->prepare("SELECT DISTINCT group_name FROM kv_blocks");
    while (st.step()) groups.push_back(st.text(0));
    st.reset();
    // Every group's cap first, then the total: the total cap alone decides what else goes.
    for (const auto& group : groups) evict_over_group_cap(group);
    evict_over_total_cap();
    tx.commit();
  } catch (const std::exception& e) {
    spdlog::warn("kv cache: applying new limits failed: {}", e.what());
  }
}

int64_t SqliteKvStore::stored_bytes() {
  flush_use();
  auto st = db_->prepare("SELECT coalesce(sum(stored_bytes), 0) FROM kv_blocks");
  return st.step() ? st.int64(0) : 0;
}

std::vector<KvEntryInfo> SqliteKvStore::entries() {
  flush_use();
  auto st = db_->prepare(
      "SELECT chain_hash, parent_hash, group_name, stored_bytes, last_used FROM kv_blocks ORDER BY last_used, id");
  std::vector<KvEntryInfo> out;
  while (st.step()) out.push_back({as_u64(st.int64(0)), as_u64(st.int64(1)), st.text(2), st.int64(3), st.int64(4)});
  return out;
}

void SqliteKvStore::clear() {
  used_ids_.clear();
  db_->exec("DELETE FROM kv_blocks");
}

}  // namespace hearth
