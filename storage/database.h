#pragma once
// One SQLite connection with Hearth's settings, and schema migrations by PRAGMA user_version.
//
// Thread model: a Database (and every store built on it) is used by ONE thread at a time; it
// holds no mutex. Each thread that needs the database opens its own Database on the same file
// (WAL lets readers run beside the one writer; the busy timeout queues writers). All calls are
// synchronous and may block on disk I/O or on another connection's write lock: the GUI must
// call them from a worker thread, never from the GUI thread.
#include <cstdint>
#include <filesystem>
#include <string>
#include <span>
#include <string_view>

#include "storage/sqlite_statement.h"

namespace hearth {

enum class Durability {
  Full,    // synchronous=FULL: a committed transaction survives power loss (user data)
  Normal,  // synchronous=NORMAL: may lose the last commits on power loss, never corrupts (caches)
};

struct DatabaseOptions {
  Durability durability = Durability::Full;
  int busy_timeout_ms = 5000;  // how long a writer waits for another connection's lock
};

// One step of a schema: SQL that takes the schema from version (index) to (index + 1).
struct MigrationStep {
  std::string_view description;
  std::string_view sql;
};

class Database {
 public:
  // Opens or creates the file (and its parent directory), turns on WAL, the durability,
  // foreign keys and the busy timeout. Throws StorageError when the file cannot be opened or is
  // not a database. Does not migrate: see migrate() and the schema functions of each store.
  explicit Database(const std::filesystem::path& path, const DatabaseOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // user_data_dir()/hearth.db: conversations, messages, presets, settings.
  static std::filesystem::path default_path();

  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() { return db_; }

  void exec(std::string_view sql);  // one or more statements without results
  Statement prepare(std::string_view sql) { return Statement(db_, sql); }
  Transaction transaction() { return Transaction(db_); }

  int64_t last_insert_id();  // rowid of the last INSERT on this connection
  int changes();             // rows changed by the last statement

  int user_version();
  // Applies steps[user_version() .. target) each in its own transaction, bumping user_version
  // with it, so an interrupted migration resumes from the last finished step. target < 0: all.
  // Throws StorageError when the file is newer than these steps (written by a newer Hearth).
  void migrate(std::span<const MigrationStep> steps, int target = -1);

  // "ok", or SQLite's list of problems (PRAGMA integrity_check).
  std::string integrity_check();

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

}  // namespace hearth
