#pragma once
// Thin RAII wrappers over the SQLite C API: a prepared Statement and a Transaction guard. Every
// SQLite failure becomes a StorageError carrying SQLite's extended result code, so callers can
// tell "disk full" from "corrupt" from "busy" without including sqlite3.h.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/common/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hearth {

class StorageError : public Error {
 public:
  StorageError(const std::string& message, int sqlite_code) : Error(message), code_(sqlite_code) {}
  int sqlite_code() const { return code_; }  // extended result code (SQLITE_FULL = 13, ...)
  bool disk_full() const;                     // SQLITE_FULL: no space, or the page cap reached
  bool busy() const;                          // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout

 private:
  int code_;
};

// Throws StorageError("<what>: <sqlite message>") when rc is not SQLITE_OK/ROW/DONE.
void check_sqlite(sqlite3* db, int rc, std::string_view what);

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;

  // Parameters are 1-based as in SQLite. Text and blobs are copied (SQLITE_TRANSIENT).
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, std::nullptr_t);
  Statement& bind(int index, std::optional<int64_t> value);
  Statement& bind_blob(int index, std::span<const std::byte> bytes);

  // true: a row is available; false: done. Throws StorageError on failure.
  bool step();
  // Runs to completion (for statements without rows).
  void run();
  // Makes the statement reusable; bindings are kept unless cleared.
  void reset();

  bool is_null(int column) const;
  int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  std::optional<int64_t> optional_int64(int column) const;
  // Points into SQLite's memory; valid until the next step/reset.
  std::span<const std::byte> blob(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;  // for error messages
};

// BEGIN IMMEDIATE (takes the write lock up front, so a busy database fails at BEGIN rather than
// half-way). Rolled back by the destructor unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(sqlite3* db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  sqlite3* db_;
  bool open_ = true;
};

}  // namespace hearth
