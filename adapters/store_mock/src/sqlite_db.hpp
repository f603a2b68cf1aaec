// A small private RAII wrapper over SQLite for the mock mailbox (STYLE.md 14):
// Database, Statement, and a Transaction that rolls back unless committed.
// Private to store_mock; meant to be folded into core's wrapper once that one is public.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crmsync/model/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace crmsync::store_mock {

// Maps an SQLite result code to an Error: BUSY/LOCKED → kTransient, NOTADB/CORRUPT →
// kCorrupt, CANTOPEN/PERM/READONLY → kPermission, the rest kInternal.
Error sqlite_error(int rc, std::string_view what, sqlite3* db = nullptr);

class Database {
 public:
  // Opens (creating when `create`) the file read-write, with the given busy timeout.
  static Result<Database> open(const std::string& path, bool create, int busy_timeout_ms);

  Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Database& operator=(Database&& o) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more statements without results.
  Result<void> exec(std::string_view sql);
  // The first column of the first row as an integer (PRAGMA user_version, max(seq)...).
  Result<std::int64_t> query_int(std::string_view sql);
  std::int64_t changes() const;
  sqlite3* handle() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  static Result<Statement> prepare(Database& db, std::string_view sql);

  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Binds by 1-based index. Text and blobs are copied (SQLITE_TRANSIENT).
  Statement& bind(int index, std::int64_t v);
  Statement& bind(int index, std::string_view text);
  Statement& bind_null(int index);

  // Steps once: true when a row is available, false when done.
  Result<bool> step();
  // Steps to completion, for statements without rows.
  Result<void> run();

  bool is_null(int col) const;
  std::int64_t column_int(int col) const;
  std::string column_text(int col) const;  // exact bytes, embedded NULs kept
  std::optional<std::string> column_opt_text(int col) const;

 private:
  Statement(Database& db, sqlite3_stmt* s) : db_(db.handle()), stmt_(s) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = 0;  // first failing bind, reported by step()
};

// BEGIN IMMEDIATE (writes) or BEGIN (reads); rolls back on destruction unless committed.
class Transaction {
 public:
  enum class Mode { kRead, kWrite };
  static Result<Transaction> begin(Database& db, Mode mode);

  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Result<void> commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace crmsync::store_mock
