#include "crmsync/core/sqlite.hpp"

#include <array>

#include <sqlite3.h>

#include <utility>

namespace crmsync::sql {
namespace {

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Error::Transient(msg);
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return Error::Corrupt(msg);
  if (primary == SQLITE_CONSTRAINT) return Error::Conflict(msg);
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_READONLY)
    return Error::Permission(msg);
  return Error::Internal(msg);
}

}  // namespace

Statement::Statement(Statement&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)), db_(o.db_) {}
Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
    db_ = o.db_;
  }
  return *this;
}
Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::bind(int i, std::string_view v) {
  sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_);
  return sqlite_error(db_, rc,
                      std::string("SQL '") + (sql ? std::string(sql).substr(0, 80) : "") + "'");
}

Result<void> Statement::run() {
  for (;;) {
    auto r = step();
    if (!r.ok()) return r.error();
    if (!*r) return Ok();
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::int64(int c) const {
  return sqlite3_column_int64(stmt_, c);
}
std::string Statement::text(int c) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)))
           : std::string();
}
int Statement::columns() const {
  return sqlite3_column_count(stmt_);
}

bool Statement::is_null(int c) const {
  return sqlite3_column_type(stmt_, c) == SQLITE_NULL;
}

Result<Database> Database::open(const std::string& path, Mode mode) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (mode == Mode::kReadWriteCreate) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db, rc, "open " + path);
    sqlite3_close(db);
    return e;
  }
  Database d(db);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  auto r = d.exec("PRAGMA foreign_keys=ON");
  if (!r.ok()) return r.error().context(path);
  return d;
}

Result<void> Database::use_wal() {
  // synchronous=NORMAL is durable against process crashes (our model) in WAL mode.
  CRMSYNC_TRY(exec("PRAGMA journal_mode=WAL"));
  // A batch of a page of items must fit in the page cache: a smaller cache spills its dirty
  // pages into the WAL mid-transaction (profiled: a sixth of an initial sync). Up to 32 MB,
  // allocated only as used.
  CRMSYNC_TRY(exec("PRAGMA cache_size=-32768"));
  // A savepoint nested in a batch keeps its undo copy of each page in a statement journal:
  // in memory, not in a temporary file written page by page.
  CRMSYNC_TRY(exec("PRAGMA temp_store=MEMORY"));
  return exec("PRAGMA synchronous=NORMAL");
}

Database::Database(Database&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)),
      depth_(std::exchange(o.depth_, 0)),
      cache_(std::move(o.cache_)) {}
Database& Database::operator=(Database&& o) noexcept {
  if (this != &o) {
    cache_.clear();
    sqlite3_close(db_);
    db_ = std::exchange(o.db_, nullptr);
    depth_ = std::exchange(o.depth_, 0);
    cache_ = std::move(o.cache_);
  }
  return *this;
}
Database::~Database() {
  cache_.clear();  // statements first: close fails while any is alive
  sqlite3_close(db_);
}

Result<void> Database::exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Error e = sqlite_error(nullptr, rc, "SQL '" + s.substr(0, 80) + "'");
    return e.context(msg);
  }
  return Ok();
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK)
    return sqlite_error(db_, rc, "prepare '" + std::string(sql.substr(0, 80)) + "'");
  return Statement(stmt, db_);
}

Result<Statement*> Database::cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto s = prepare(sql);
    if (!s.ok()) return s.error();
    it = cache_.emplace(sql, std::make_unique<Statement>(std::move(*s))).first;
  }
  it->second->reset();
  return it->second.get();
}

std::int64_t Database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}
int Database::changes() const {
  return sqlite3_changes(db_);
}

Result<int> Database::user_version() {
  auto s = prepare("PRAGMA user_version");
  if (!s.ok()) return s.error();
  auto r = s->step();
  if (!r.ok()) return r.error();
  return static_cast<int>(s->int64(0));
}

Result<void> Database::set_user_version(int v) {
  return exec("PRAGMA user_version=" + std::to_string(v));
}

Result<std::string> Database::integrity_check() {
  auto s = prepare("PRAGMA integrity_check");
  if (!s.ok()) return s.error();
  std::string out;
  for (;;) {
    auto r = s->step();
    if (!r.ok()) return r.error();
    if (!*r) break;
    if (!out.empty()) out += "\n";
    out += s->text(0);
  }
  return out;
}

Result<std::int64_t> Database::data_version() {
  auto s = cached("PRAGMA data_version");
  if (!s.ok()) return s.error();
  auto r = (*s)->step();
  if (!r.ok()) return r.error();
  std::int64_t v = (*s)->int64(0);
  (*s)->reset();
  return v;
}

namespace {

// The savepoint statements of the first nesting levels, prepared once per connection (as
// cached statements, keyed by these literals): a batch of a page nests one per item write,
// and compiling each anew was a measurable part of an initial sync.
constexpr std::array<const char*, 4> kSavepoint = {"SAVEPOINT sp1", "SAVEPOINT sp2",
                                                   "SAVEPOINT sp3", "SAVEPOINT sp4"};
constexpr std::array<const char*, 4> kRelease = {"RELEASE sp1", "RELEASE sp2", "RELEASE sp3",
                                                 "RELEASE sp4"};

Result<void> run_savepoint(Database& db, const std::array<const char*, 4>& table,
                           std::string_view verb, int depth) {
  if (depth < 1 || depth > static_cast<int>(table.size()))
    return db.exec(std::string(verb) + " sp" + std::to_string(depth));
  auto s = db.cached(table[static_cast<std::size_t>(depth - 1)]);
  if (!s.ok()) return s.error();
  auto r = (*s)->run();
  (*s)->reset();
  return r;
}

}  // namespace

Result<Transaction> Transaction::begin(Database& db, Kind kind) {
  // Inside an open transaction a savepoint nests: its work joins the outer transaction
  // when released, and is undone alone when rolled back.
  const int depth = db.depth_;
  auto r = depth > 0              ? run_savepoint(db, kSavepoint, "SAVEPOINT", depth)
           : kind == Kind::kWrite ? db.exec("BEGIN IMMEDIATE")
                                  : db.exec("BEGIN");
  if (!r.ok()) return r.error();
  ++db.depth_;
  return Transaction(&db, depth);
}

Transaction::Transaction(Transaction&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), depth_(o.depth_) {}

Transaction::~Transaction() {
  Database* db = std::exchange(db_, nullptr);
  if (db == nullptr) return;
  if (depth_ > 0) {
    const std::string sp = "sp" + std::to_string(depth_);
    (void)db->exec("ROLLBACK TO " + sp);
    (void)db->exec("RELEASE " + sp);
  } else {
    (void)db->exec("ROLLBACK");
  }
  db->depth_ = depth_;
}

Result<void> Transaction::commit() {
  Database* db = std::exchange(db_, nullptr);
  Result<void> r =
      depth_ > 0 ? run_savepoint(*db, kRelease, "RELEASE", depth_) : db->exec("COMMIT");
  if (!r.ok()) {
    if (depth_ > 0) {
      (void)db->exec("ROLLBACK TO sp" + std::to_string(depth_));
      (void)db->exec("RELEASE sp" + std::to_string(depth_));
    } else {
      (void)db->exec("ROLLBACK");
    }
  }
  db->depth_ = depth_;
  return r;
}

bool Transaction::open() const {
  return db_ != nullptr;
}

}  // namespace crmsync::sql
