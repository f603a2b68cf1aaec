// The emulators' SQLite store opening (WAL, a busy timeout, foreign keys) and a small
// statement wrapper. Errors throw std::runtime_error naming the SQL and SQLite's message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace emulator {

class Db {
 public:
  // Opens (creating) `path` and runs `schema` (CREATE ... IF NOT EXISTS statements).
  Db(const std::string& path, const std::string& schema);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql);
  sqlite3* handle() { return db_; }
  std::int64_t changes() const;

  // BEGIN IMMEDIATE ... COMMIT, rolled back when the scope is left by an exception.
  class Transaction {
   public:
    explicit Transaction(Db& db);
    ~Transaction();
    void commit();

   private:
    Db& db_;
    bool done_ = false;
  };

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v);
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind_null(int i);
  // Steps once: true with a row, false when done.
  bool step();
  // Steps to the end (INSERT/UPDATE/DELETE).
  void run();
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::int64_t i64(int col) const;

 private:
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace emulator
