// RAII over SQLite (STYLE.md 14): database, statement, transaction. The only code that
// touches sqlite3 handles; the cache and the mock mailbox are built on it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "crmsync/model/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace crmsync::sql {

class Statement {
 public:
  Statement() = default;
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  // Binds are 1-based, as in SQLite. A binding error surfaces at step().
  Statement& bind(int index, std::int64_t v);
  Statement& bind(int index, std::string_view v);  // text
  Statement& bind(int index, const char* v) { return bind(index, std::string_view(v)); }
  Statement& bind_null(int index);
  Statement& bind(int index, const std::string& v) { return bind(index, std::string_view(v)); }

  // true: a row is ready; false: done. Errors carry the SQL and SQLite's message.
  Result<bool> step();
  // Runs to completion (for statements that return no rows).
  Result<void> run();
  void reset();  // clears bindings too

  std::int64_t int64(int column) const;
  std::string text(int column) const;
  bool is_null(int column) const;
  int columns() const;  // of the result rows

 private:
  friend class Database;
  Statement(sqlite3_stmt* s, sqlite3* db) : stmt_(s), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

// Resets a statement (a cached one, typically) when the scope ends however it ends: one left
// in the middle of its rows would keep its read transaction open.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& s) : s_(s) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() { s_.reset(); }

 private:
  Statement& s_;
};

class Database {
 public:
  enum class Mode { kReadWriteCreate, kReadWrite };
  // Opens with foreign keys and a busy timeout (several processes may share a file). Nothing
  // is written yet, so the caller can check the schema version of a file it must not touch.
  static Result<Database> open(const std::string& path, Mode mode = Mode::kReadWriteCreate);
  // WAL (readers never block the writer; a killed process loses no committed transaction)
  // with synchronous=NORMAL. Writes the file header: call it once the file is known to be ours.
  Result<void> use_wal();

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  Result<void> exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  // A statement prepared once and kept for the life of the connection; reset before use.
  Result<Statement*> cached(const char* sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  // PRAGMA user_version.
  Result<int> user_version();
  Result<void> set_user_version(int v);
  // "ok" when PRAGMA integrity_check finds nothing.
  Result<std::string> integrity_check();
  // PRAGMA data_version: changes when another connection commits.
  Result<std::int64_t> data_version();

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  friend class Transaction;
  sqlite3* db_ = nullptr;
  int depth_ = 0;  // open Transactions on this connection
  std::unordered_map<const char*, std::unique_ptr<Statement>> cache_;
};

// BEGIN (IMMEDIATE for writers) on construction, ROLLBACK in the destructor unless commit().
// Nested in an open transaction of the same connection, it is a SAVEPOINT: commit()
// releases it into the outer transaction; destruction without commit() undoes its work only.
// Transactions of one connection end in the reverse order of their beginning.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  static Result<Transaction> begin(Database& db, Kind kind = Kind::kWrite);
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();
  bool open() const;  // not yet committed or rolled back

 private:
  Transaction(Database* db, int depth) : db_(db), depth_(depth) {}
  Database* db_;
  int depth_;  // 0: the outermost (BEGIN/COMMIT); n: SAVEPOINT spn
};

}  // namespace crmsync::sql
