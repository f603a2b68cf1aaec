#include "caller.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>

#include "xml.hpp"

namespace crm_emulator {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  bool row() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    return false;
  }
  std::string text(int c) const {
    auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return t ? std::string(t, static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : "";
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kColumns =
    "user_id, upn, oid, auth, ntlm_user, password, application, client_id, act_on_behalf";

Identity read(const Stmt& s) {
  Identity i;
  i.user_id = s.text(0);
  i.upn = s.text(1);
  i.oid = s.text(2);
  i.auth = s.text(3);
  i.ntlm_user = s.text(4);
  i.password = s.text(5);
  i.application = s.i64(6) != 0;
  i.client_id = s.text(7);
  i.act_on_behalf = s.i64(8) != 0;
  return i;
}

}  // namespace

Identities::Identities(Store& store) : store_(store) {}

void Identities::ensure_schema(Store& store) {
  char* error = nullptr;
  if (sqlite3_exec(store.handle(),
                   "CREATE TABLE IF NOT EXISTS identities(user_id TEXT PRIMARY KEY, "
                   "upn TEXT NOT NULL DEFAULT '', oid TEXT NOT NULL DEFAULT '', "
                   "auth TEXT NOT NULL DEFAULT 'bearer', ntlm_user TEXT NOT NULL DEFAULT '', "
                   "password TEXT NOT NULL DEFAULT '', application INTEGER NOT NULL DEFAULT 0, "
                   "client_id TEXT NOT NULL DEFAULT '', act_on_behalf INTEGER NOT NULL DEFAULT 0)",
                   nullptr, nullptr, &error) != SQLITE_OK) {
    std::string msg = error ? error : "?";
    sqlite3_free(error);
    throw std::runtime_error("sqlite: " + msg);
  }
}

std::optional<Identity> Identities::get(const std::string& user_id) {
  Stmt s(store_.handle(),
         (std::string("SELECT ") + kColumns + " FROM identities WHERE user_id=?").c_str());
  s.bind(1, user_id);
  if (s.row()) return read(s);
  return std::nullopt;
}

std::vector<Identity> Identities::all() {
  Stmt s(store_.handle(), (std::string("SELECT ") + kColumns + " FROM identities").c_str());
  std::vector<Identity> out;
  while (s.row()) out.push_back(read(s));
  return out;
}

std::optional<Identity> Identities::by_oid(const std::string& oid) {
  if (oid.empty()) return std::nullopt;
  for (auto& i : all())
    if (i.oid == lower(oid)) return i;
  return std::nullopt;
}

std::optional<Identity> Identities::by_upn(const std::string& upn) {
  if (upn.empty()) return std::nullopt;
  for (auto& i : all())
    if (i.upn == lower(upn)) return i;
  return std::nullopt;
}

std::optional<Identity> Identities::by_client_id(const std::string& client_id) {
  if (client_id.empty()) return std::nullopt;
  for (auto& i : all())
    if (i.application && i.client_id == lower(client_id)) return i;
  return std::nullopt;
}

std::optional<Identity> Identities::by_ntlm_user(const std::string& ntlm_user) {
  if (ntlm_user.empty()) return std::nullopt;
  for (auto& i : all())
    if (!i.ntlm_user.empty() && lower(i.ntlm_user) == lower(ntlm_user)) return i;
  return std::nullopt;
}

void Identities::put(const Identity& i) {
  Stmt s(store_.handle(), (std::string("INSERT OR REPLACE INTO identities(") + kColumns +
                           ") VALUES(?,?,?,?,?,?,?,?,?)")
                              .c_str());
  s.bind(1, i.user_id)
      .bind(2, lower(i.upn))
      .bind(3, lower(i.oid))
      .bind(4, i.auth)
      .bind(5, i.ntlm_user)
      .bind(6, i.password)
      .bind(7, std::int64_t{i.application ? 1 : 0})
      .bind(8, lower(i.client_id))
      .bind(9, std::int64_t{i.act_on_behalf ? 1 : 0});
  s.row();
}

void Identities::wipe() {
  Stmt s(store_.handle(), "DELETE FROM identities");
  s.row();
}

// ------------------------------------------------------------------ CallerId

std::string caller_id_header(const tinyxml2::XMLElement* envelope) {
  const tinyxml2::XMLElement* header = xml::child(envelope, "Header");
  if (!header) return "";
  for (auto* h = header->FirstChildElement(); h; h = h->NextSiblingElement()) {
    auto q = xml::element_qname(h);
    if (q.local != "CallerId" || q.ns != xml::kXrm) continue;
    std::string text = xml::text(h);
    std::string id = normalize_guid(text);
    if (id.empty())
      throw Fault(err::kDeserialization, "The CallerId header '" + text + "' is not a guid.");
    return id == kNullGuid ? "" : id;  // all zeros: the caller itself (as CRM 4.0's CallerId)
  }
  return "";
}

User act_as(Store& store, const User& caller, const std::string& caller_id) {
  if (caller_id.empty() || caller_id == caller.id) return caller;
  auto identity = Identities(store).get(caller.id);
  if (!identity || !identity->act_on_behalf)
    throw Fault(err::kPrivilegeDenied, "Principal user (Id=" + caller.id +
                                           ", type=8) is missing prvActOnBehalfOfAnotherUser "
                                           "privilege (Id=" +
                                           kPrivActOnBehalfId + ")");
  auto target = store.user_by_id(caller_id);
  if (!target)
    throw Fault(err::kObjectDoesNotExist, "systemuser With Id = " + caller_id + " Does Not Exist");
  return *target;
}

}  // namespace crm_emulator

// ------------------------------------------------------------------ Service's users

#include "fetchxml.hpp"
#include "service.hpp"

namespace crm_emulator {

std::string Service::add_user(const NewUser& u) {
  std::string token = u.token.empty() ? "unusable:" + new_guid() + new_guid() : u.token;
  std::string id = add_user(u.fullname, token, u.internalemailaddress);
  store_.begin();
  try {
    Identity i;
    i.user_id = id;
    i.upn = u.upn;
    i.oid = u.oid;
    i.auth = u.auth;
    i.ntlm_user = u.ntlm_user;
    i.password = u.password;
    i.application = u.application;
    i.client_id = u.client_id;
    Identities(store_).put(i);
    if (!u.upn.empty()) {  // Dynamics online keeps an Entra user's UPN in domainname
      if (auto rec = store_.get("systemuser", id)) {
        rec->attrs["domainname"] = Value::str(u.upn);
        store_.update(*rec);
      }
    }
    if (u.default_filters && !u.application) create_default_filters(store_, id);
    store_.commit();
  } catch (...) {
    store_.rollback();
    throw;
  }
  return id;
}

bool Service::set_act_on_behalf(const std::string& user_id, bool granted) {
  if (!store_.user_by_id(user_id)) return false;
  Identities ids(store_);
  Identity i = ids.get(user_id).value_or(Identity{});
  i.user_id = user_id;
  i.act_on_behalf = granted;
  ids.put(i);
  return true;
}

std::vector<std::string> Service::transact_default_filters(const std::string& user_id) {
  store_.begin();
  try {
    auto ids = create_default_filters(store_, user_id);
    store_.commit();
    return ids;
  } catch (...) {
    store_.rollback();
    throw;
  }
}

}  // namespace crm_emulator
