#include "storage/sqlite_kv_store.h"

#include <sqlite3.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>
#include <zstd.h>

#include <charconv>
#include <cstring>

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

int64_t as_i64(uint64_t v) {
  int64_t out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}
uint64_t as_u64(int64_t v) {
  uint64_t out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

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
    : path_(path), options_(options), db_(open_cache(path)) {}

std::filesystem::path SqliteKvStore::default_path() { return user_data_dir() / "kv-cache.db"; }

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
    auto tx = db_->transaction();
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
    std::vector<std::byte> compressed;
    const int64_t n = static_cast<int64_t>(blocks.size());
    for (int64_t i = 0; i < n; ++i) {
      const KvBlockRecord& b = blocks[static_cast<size_t>(i)];
      const int64_t use = newest + (n - i);  // the chain's first block counts as the most recent
      if (static_cast<int64_t>(b.tokens.size()) != g.block_tokens ||
          static_cast<int64_t>(b.data.size()) != *block_bytes) {
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
      compressed.resize(ZSTD_compressBound(b.data.size()));
      const size_t packed =
          ZSTD_compress(compressed.data(), compressed.size(), b.data.data(), b.data.size(), options_.compression_level);
      if (ZSTD_isError(packed)) {
        spdlog::warn("kv cache: compressing block {:016x} failed: {}", b.chain_hash, ZSTD_getErrorName(packed));
        continue;
      }
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
          .bind(12, static_cast<int64_t>(tokens.size() + packed))
          .bind(13, as_i64(block_checksum(tokens, b.data)))
          .bind(14, use)
          .bind_blob(15, tokens)
          .bind_blob(16, std::span<const std::byte>(compressed.data(), packed));
      insert.run();
    }
    evict_over_caps(group);
    tx.commit();
  } catch (const std::exception& e) {
    // Disk full, a locked file, out of memory: the cache is an optimization, the request goes on.
    spdlog::warn("kv cache: saving {} blocks of group \"{}\" failed: {}", blocks.size(), group, e.what());
  }
}

std::optional<KvBlockRecord> SqliteKvStore::load(const KvFingerprint& fingerprint, uint64_t chain_hash) {
  try {
    const auto block_bytes = checked_block_bytes(fingerprint.geometry);
    if (!block_bytes) return std::nullopt;
    const KvGeometry& g = fingerprint.geometry;
    auto st = db_->prepare(
        "SELECT id, parent_hash, model_hash, n_layer, n_kv_head, head_dim, block_tokens, dtype, raw_bytes, checksum, "
        "tokens, data FROM kv_blocks WHERE fingerprint = ?1 AND chain_hash = ?2");
    st.bind(1, as_i64(kv_fingerprint_hash(fingerprint))).bind(2, as_i64(chain_hash));
    if (!st.step()) return std::nullopt;
    const int64_t id = st.int64(0);

    // Every check names what was wrong; the first failure drops the entry.
    std::string problem;
    KvBlockRecord record;
    record.chain_hash = chain_hash;
    record.parent_hash = as_u64(st.int64(1));
    const auto tokens = st.blob(10);
    const auto packed = st.blob(11);
    const int64_t token_bytes_expected = g.block_tokens * int64_t{sizeof(TokenId)};
    if (as_u64(st.int64(2)) != fingerprint.model_hash) {
      problem = "model hash differs";
    } else if (st.int64(3) != g.n_layer || st.int64(4) != g.n_kv_head || st.int64(5) != g.head_dim ||
               st.int64(6) != g.block_tokens || st.int64(7) != static_cast<int64_t>(g.dtype)) {
      problem = "KV geometry differs";
    } else if (st.int64(8) != *block_bytes) {
      problem = fmt::format("recorded size {} is not the block size {}", st.int64(8), *block_bytes);
    } else if (static_cast<int64_t>(tokens.size()) != token_bytes_expected) {
      problem = fmt::format("{} token bytes, expected {}", tokens.size(), token_bytes_expected);
    } else if (const unsigned long long frame = ZSTD_getFrameContentSize(packed.data(), packed.size());
               frame != static_cast<unsigned long long>(*block_bytes)) {
      problem = "compressed data is truncated or of the wrong size";
    } else {
      record.data.resize(static_cast<size_t>(*block_bytes));
      const size_t got = ZSTD_decompress(record.data.data(), record.data.size(), packed.data(), packed.size());
      if (ZSTD_isError(got) || got != record.data.size()) {
        problem = fmt::format("decompression failed: {}", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
      } else if (block_checksum(tokens, record.data) != as_u64(st.int64(9))) {
        problem = "checksum mismatch";
      } else {
        record.tokens.resize(static_cast<size_t>(g.block_tokens));
        std::memcpy(record.tokens.data(), tokens.data(), tokens.size());
      }
    }
    st.reset();
    if (!problem.empty()) {
      spdlog::warn("kv cache: dropping block {:016x}: {}", chain_hash, problem);
      db_->prepare("DELETE FROM kv_blocks WHERE id = ?1").bind(1, id).run();
      return std::nullopt;
    }
    try {
      db_->prepare("UPDATE kv_blocks SET last_used = (SELECT max(last_used) FROM kv_blocks) + 1 WHERE id = ?1")
          .bind(1, id)
          .run();
    } catch (const StorageError& e) {
      // The block is good; only its LRU position could not be updated (disk full, busy).
      spdlog::debug("kv cache: marking block {:016x} used failed: {}", chain_hash, e.what());
    }
    return record;
  } catch (const std::exception& e) {
    spdlog::warn("kv cache: loading block {:016x} failed: {}", chain_hash, e.what());
    return std::nullopt;
  }
}

bool SqliteKvStore::contains(const KvFingerprint& fingerprint, uint64_t chain_hash) {
  try {
    auto st = db_->prepare("SELECT 1 FROM kv_blocks WHERE fingerprint = ?1 AND chain_hash = ?2");
    st.bind(1, as_i64(kv_fingerprint_hash(fingerprint))).bind(2, as_i64(chain_hash));
    return st.step();
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
  auto st = db_->prepare("SELECT coalesce(sum(stored_bytes), 0) FROM kv_blocks");
  return st.step() ? st.int64(0) : 0;
}

std::vector<KvEntryInfo> SqliteKvStore::entries() {
  auto st = db_->prepare(
      "SELECT chain_hash, parent_hash, group_name, stored_bytes, last_used FROM kv_blocks ORDER BY last_used, id");
  std::vector<KvEntryInfo> out;
  while (st.step()) out.push_back({as_u64(st.int64(0)), as_u64(st.int64(1)), st.text(2), st.int64(3), st.int64(4)});
  return out;
}

void SqliteKvStore::clear() { db_->exec("DELETE FROM kv_blocks"); }

}  // namespace hearth
