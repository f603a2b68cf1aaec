#include "store.hpp"

#include "keys.hpp"

namespace login_emulator {

using emulator::Stmt;

namespace {

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(oid TEXT PRIMARY KEY, upn TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps(client_id TEXT PRIMARY KEY, secret TEXT NOT NULL,
  oid TEXT NOT NULL, roles TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS device_codes(device_code TEXT PRIMARY KEY,
  user_code TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL, scope TEXT NOT NULL,
  expires_at INTEGER NOT NULL, last_poll_ms INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'pending', oid TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS refresh_tokens(token TEXT PRIMARY KEY, oid TEXT NOT NULL,
  client_id TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS refresh_tokens_oid ON refresh_tokens(oid);
)";

// Roles are kept as one space-separated string (role values have no spaces).
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& r : v) s += (s.empty() ? "" : " ") + r;
  return s;
}
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto sp = s.find(' ', pos);
    if (sp == std::string::npos) sp = s.size();
    if (sp > pos) out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

DeviceCode device_row(Stmt& q) {
  return DeviceCode{q.text(0), q.text(1), q.text(2), q.text(3),
                    q.i64(4),  q.i64(5),  q.text(6), q.text(7)};
}

}  // namespace

Store::Store(const std::string& path) : db_(path, kSchema) {}

std::optional<std::string> Store::meta(const std::string& key) {
  Stmt q(db_, "SELECT v FROM meta WHERE k=?");
  q.bind(1, key);
  if (!q.step()) return std::nullopt;
  return q.text(0);
}

void Store::set_meta(const std::string& key, const std::string& value) {
  Stmt q(db_, "INSERT INTO meta(k,v) VALUES(?,?) ON CONFLICT(k) DO UPDATE SET v=excluded.v");
  q.bind(1, key).bind(2, value).run();
}

User Store::add_user(const std::string& upn, const std::string& name) {
  User u{random_guid(), upn, name};
  Stmt q(db_, "INSERT INTO users(oid,upn,name) VALUES(?,?,?)");
  q.bind(1, u.oid).bind(2, u.upn).bind(3, u.name).run();
  return u;
}

std::optional<User> Store::user_by_upn(const std::string& upn) {
  Stmt q(db_, "SELECT oid,upn,name FROM users WHERE upn=?");
  q.bind(1, upn);
  if (!q.step()) return std::nullopt;
  return User{q.text(0), q.text(1), q.text(2)};
}

std::optional<User> Store::user_by_oid(const std::string& oid) {
  Stmt q(db_, "SELECT oid,upn,name FROM users WHERE oid=?");
  q.bind(1, oid);
  if (!q.step()) return std::nullopt;
  return User{q.text(0), q.text(1), q.text(2)};
}

App Store::add_app(const std::string& client_id, const std::string& secret,
                   const std::vector<std::string>& roles) {
  App a{client_id, secret, random_guid(), roles};
  Stmt q(db_, "INSERT INTO apps(client_id,secret,oid,roles) VALUES(?,?,?,?)");
  q.bind(1, a.client_id).bind(2, a.secret).bind(3, a.oid).bind(4, join(roles)).run();
  return a;
}

std::optional<App> Store::app(const std::string& client_id) {
  Stmt q(db_, "SELECT client_id,secret,oid,roles FROM apps WHERE client_id=?");
  q.bind(1, client_id);
  if (!q.step()) return std::nullopt;
  return App{q.text(0), q.text(1), q.text(2), split(q.text(3))};
}

void Store::add_device_code(const DeviceCode& d) {
  Stmt q(db_,
         "INSERT INTO device_codes(device_code,user_code,client_id,scope,expires_at,last_poll_ms,"
         "state,oid) VALUES(?,?,?,?,?,?,?,?)");
  q.bind(1, d.device_code)
      .bind(2, d.user_code)
      .bind(3, d.client_id)
      .bind(4, d.scope)
      .bind(5, d.expires_at)
      .bind(6, d.last_poll_ms)
      .bind(7, d.state)
      .bind(8, d.oid)
      .run();
}

std::optional<DeviceCode> Store::device_code(const std::string& device_code) {
  Stmt q(db_,
         "SELECT device_code,user_code,client_id,scope,expires_at,last_poll_ms,state,oid "
         "FROM device_codes WHERE device_code=?");
  q.bind(1, device_code);
  if (!q.step()) return std::nullopt;
  return device_row(q);
}

std::optional<DeviceCode> Store::device_by_user_code(const std::string& user_code) {
  Stmt q(db_,
         "SELECT device_code,user_code,client_id,scope,expires_at,last_poll_ms,state,oid "
         "FROM device_codes WHERE user_code=?");
  q.bind(1, user_code);
  if (!q.step()) return std::nullopt;
  return device_row(q);
}

void Store::set_device_state(const std::string& device_code, const std::string& state,
                             const std::string& oid) {
  Stmt q(db_, "UPDATE device_codes SET state=?, oid=? WHERE device_code=?");
  q.bind(1, state).bind(2, oid).bind(3, device_code).run();
}

void Store::set_last_poll(const std::string& device_code, std::int64_t ms) {
  Stmt q(db_, "UPDATE device_codes SET last_poll_ms=? WHERE device_code=?");
  q.bind(1, ms).bind(2, device_code).run();
}

std::int64_t Store::expire_codes(std::int64_t now) {
  Stmt q(db_,
         "UPDATE device_codes SET expires_at=? WHERE state IN ('pending','approved') AND "
         "expires_at>?");
  q.bind(1, now).bind(2, now).run();
  return db_.changes();
}

void Store::add_refresh(const RefreshToken& t) {
  Stmt q(db_,
         "INSERT INTO refresh_tokens(token,oid,client_id,scope,issued_at,revoked) "
         "VALUES(?,?,?,?,?,?)");
  q.bind(1, t.token)
      .bind(2, t.oid)
      .bind(3, t.client_id)
      .bind(4, t.scope)
      .bind(5, t.issued_at)
      .bind(6, std::int64_t{t.revoked ? 1 : 0})
      .run();
}

std::optional<RefreshToken> Store::refresh(const std::string& token) {
  Stmt q(db_,
         "SELECT token,oid,client_id,scope,issued_at,revoked FROM refresh_tokens WHERE token=?");
  q.bind(1, token);
  if (!q.step()) return std::nullopt;
  return RefreshToken{q.text(0), q.text(1), q.text(2), q.text(3), q.i64(4), q.i64(5) != 0};
}

std::int64_t Store::revoke_refresh(const std::string& oid) {
  Stmt q(db_, "UPDATE refresh_tokens SET revoked=1 WHERE oid=? AND revoked=0");
  q.bind(1, oid).run();
  return db_.changes();
}

void Store::reset() {
  db_.exec(
      "DELETE FROM users; DELETE FROM apps; DELETE FROM device_codes; "
      "DELETE FROM refresh_tokens;");
}

}  // namespace login_emulator
