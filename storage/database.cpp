#include "storage/database.h"

#include <sqlite3.h>

#include <string>
#include <system_error>

#include <fmt/format.h>

#include "core/common/logging.h"

namespace hearth {

Database::Database(const std::filesystem::path& path, const DatabaseOptions& options) : path_(path) {
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw StorageError(fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message()), SQLITE_CANTOPEN);
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.string().c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StorageError(fmt::format("cannot open database {}: {}", path.string(), message), rc);
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    check_sqlite(db_, sqlite3_busy_timeout(db_, options.busy_timeout_ms), "setting the busy timeout");
    // journal_mode answers with a row; a file that is not a database fails here ("file is not
    // a database"), which is the error the user should see.
    auto journal = prepare("PRAGMA journal_mode=WAL");
    if (!journal.step() || journal.text(0) != "wal") {
      throw StorageError(fmt::format("database {}: cannot switch to WAL mode", path.string()), SQLITE_ERROR);
    }
    exec(options.durability == Durability::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
  } catch (const StorageError& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    if ((e.sqlite_code() & 0xff) == SQLITE_NOTADB) {
      throw StorageError(fmt::format("{} is not a database (or is damaged beyond its header)", path.string()),
                         e.sqlite_code());
    }
    throw StorageError(fmt::format("opening database {}: {}", path.string(), e.what()), e.sqlite_code());
  }
}

Database::~Database() {
  // Statements are owned by their users and finalized before the Database goes away; close_v2
  // defers the close if one is still alive instead of failing.
  sqlite3_close_v2(db_);
}

std::filesystem::path Database::default_path() { return user_data_dir() / "hearth.db"; }

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  check_sqlite(db_, sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr),
               fmt::format("running \"{}\"", text.size() > 80 ? text.substr(0, 80) + "..." : text));
}

int64_t Database::last_insert_id() { return sqlite3_last_insert_rowid(db_); }
int Database::changes() { return sqlite3_changes(db_); }

int Database::user_version() {
  auto st = prepare("PRAGMA user_version");
  return st.step() ? static_cast<int>(st.int64(0)) : 0;
}

void Database::migrate(std::span<const MigrationStep> steps, int target) {
  const int latest = static_cast<int>(steps.size());
  if (target < 0 || target > latest) target = latest;
  const int current = user_version();
  if (current > latest) {
    throw StorageError(fmt::format("database {} has schema version {}, newer than this Hearth knows ({}); "
                                   "it was written by a newer version",
                                   path_.string(), current, latest),
                       SQLITE_ERROR);
  }
  for (int version = current; version < target; ++version) {
    auto tx = transaction();
    try {
      exec(steps[static_cast<size_t>(version)].sql);
      exec(fmt::format("PRAGMA user_version={}", version + 1));
    } catch (const StorageError& e) {
      throw StorageError(fmt::format("migrating {} to schema version {} ({}): {}", path_.string(), version + 1,
                                     steps[static_cast<size_t>(version)].description, e.what()),
                         e.sqlite_code());
    }
    tx.commit();
  }
}

std::string Database::integrity_check() {
  auto st = prepare("PRAGMA integrity_check");
  std::string result;
  while (st.step()) {
    if (!result.empty()) result += "\n";
    result += st.text(0);
  }
  return result;
}

}  // namespace hearth
