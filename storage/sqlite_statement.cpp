#include "storage/sqlite_statement.h"

#include <sqlite3.h>

#include <limits>

#include <spdlog/spdlog.h>

namespace hearth {

bool StorageError::disk_full() const { return (code_ & 0xff) == SQLITE_FULL; }
bool StorageError::busy() const { return (code_ & 0xff) == SQLITE_BUSY || (code_ & 0xff) == SQLITE_LOCKED; }

void check_sqlite(sqlite3* db, int rc, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  const int extended = db ? sqlite3_extended_errcode(db) : rc;
  std::string message(what);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_FULL) message += " (the disk is full or the database reached its size limit)";
  throw StorageError(message, extended ? extended : rc);
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
  if (sql.size() > static_cast<size_t>(std::numeric_limits<int>::max())) throw Error("SQL statement too long");
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    check_sqlite(db_, rc, "preparing \"" + sql_ + "\"");
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_), sql_(std::move(other.sql_)) {
  other.stmt_ = nullptr;
}

Statement& Statement::bind(int index, int64_t value) {
  check_sqlite(db_, sqlite3_bind_int64(stmt_, index, value), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  check_sqlite(db_, sqlite3_bind_double(stmt_, index, value), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  check_sqlite(db_, sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
               "binding a text parameter");
  return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
  check_sqlite(db_, sqlite3_bind_null(stmt_, index), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, std::optional<int64_t> value) {
  return value ? bind(index, *value) : bind(index, nullptr);
}

Statement& Statement::bind_blob(int index, std::span<const std::byte> bytes) {
  // A zero-length blob must still be a blob, not NULL: sqlite3_bind_blob64 with a null pointer
  // binds NULL, so point at a static byte.
  static const std::byte empty{};
  const void* data = bytes.empty() ? &empty : bytes.data();
  check_sqlite(db_, sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT), "binding a blob");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Reset so the statement releases its locks; the error is already recorded on the handle.
  sqlite3_reset(stmt_);
  check_sqlite(db_, rc, "running \"" + sql_ + "\"");
  return false;
}

void Statement::run() {
  while (step()) {
  }
  sqlite3_reset(stmt_);
}

void Statement::reset() { sqlite3_reset(stmt_); }

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

std::optional<int64_t> Statement::optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return int64(column);
}

std::span<const std::byte> Statement::blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (!p || n <= 0) return {};
  return {static_cast<const std::byte*>(p), static_cast<size_t>(n)};
}

Transaction::Transaction(sqlite3* db) : db_(db) {
  check_sqlite(db_, sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "starting a transaction");
}

Transaction::~Transaction() {
  if (!open_) return;
  // After some errors (SQLITE_FULL, IOERR) SQLite has already rolled back; ROLLBACK then fails
  // harmlessly with "no transaction is active".
  if (!sqlite3_get_autocommit(db_)) {
    const int rc = sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) spdlog::warn("storage: rollback failed: {}", sqlite3_errmsg(db_));
  }
}

void Transaction::commit() {
  check_sqlite(db_, sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), "committing a transaction");
  open_ = false;
}

}  // namespace hearth
