#include "store.hpp"

#include <set>

#include <sqlite3.h>

#include <algorithm>
#include <cstring>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace crm_emulator {
namespace {

const char* type_tag(Value::Type t) {
  switch (t) {
    case Value::Type::Null:
      return "null";
    case Value::Type::String:
      return "string";
    case Value::Type::Int:
      return "int";
    case Value::Type::Long:
      return "long";
    case Value::Type::Bool:
      return "bool";
    case Value::Type::DateTime:
      return "datetime";
    case Value::Type::Guid:
      return "guid";
    case Value::Type::Ref:
      return "ref";
    case Value::Type::OptionSet:
      return "option";
    case Value::Type::Money:
      return "money";
    case Value::Type::Decimal:
      return "decimal";
    case Value::Type::Double:
      return "double";
    case Value::Type::Parties:
      return "parties";
  }
  return "null";
}

Value::Type tag_type(std::string_view t) {
  for (int i = 0; i <= static_cast<int>(Value::Type::Parties); ++i) {
    auto ty = static_cast<Value::Type>(i);
    if (t == type_tag(ty)) return ty;
  }
  return Value::Type::Null;
}

using Alloc = rapidjson::Document::AllocatorType;

rapidjson::Value ref_json(const EntityRef& r, Alloc& a) {
  rapidjson::Value o(rapidjson::kObjectType);
  o.AddMember("logicalname", rapidjson::Value(r.logical.c_str(), a), a);
  o.AddMember("id", rapidjson::Value(r.id.c_str(), a), a);
  o.AddMember("name", rapidjson::Value(r.name.c_str(), a), a);
  return o;
}

EntityRef ref_from(const rapidjson::Value& o) {
  EntityRef r;
  if (o.HasMember("logicalname")) r.logical = o["logicalname"].GetString();
  if (o.HasMember("id")) r.id = o["id"].GetString();
  if (o.HasMember("name")) r.name = o["name"].GetString();
  return r;
}

rapidjson::Value parties_json(const std::vector<Party>& ps, Alloc& a) {
  rapidjson::Value arr(rapidjson::kArrayType);
  for (const auto& p : ps) {
    rapidjson::Value o(rapidjson::kObjectType);
    if (p.partyid) o.AddMember("partyid", ref_json(*p.partyid, a), a);
    if (!p.addressused.empty())
      o.AddMember("addressused", rapidjson::Value(p.addressused.c_str(), a), a);
    o.AddMember("participationtypemask", p.participationtypemask, a);
    arr.PushBack(o, a);
  }
  return arr;
}

}  // namespace

void value_to_simple_json(const Value& v, rapidjson::Value& out, Alloc& a) {
  switch (v.type) {
    case Value::Type::Null:
      out.SetNull();
      break;
    case Value::Type::Int:
    case Value::Type::Long:
    case Value::Type::OptionSet:
      out.SetInt64(v.i);
      break;
    case Value::Type::Bool:
      out.SetBool(v.i != 0);
      break;
    case Value::Type::Ref:
      out = ref_json(v.ref, a);
      break;
    case Value::Type::Parties:
      out = parties_json(v.parties, a);
      break;
    default:
      out.SetString(v.s.c_str(), a);
      break;
  }
}

std::string attributes_to_json(const Attributes& attrs) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  for (const auto& [name, v] : attrs) {
    rapidjson::Value o(rapidjson::kObjectType);
    o.AddMember("t", rapidjson::StringRef(type_tag(v.type)), a);
    rapidjson::Value val;
    value_to_simple_json(v, val, a);
    o.AddMember("v", val, a);
    d.AddMember(rapidjson::Value(name.c_str(), a), o, a);
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  d.Accept(w);
  return buf.GetString();
}

Attributes attributes_from_json(const std::string& json) {
  Attributes out;
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  if (d.HasParseError() || !d.IsObject()) return out;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    const auto& o = it->value;
    Value v;
    v.type = tag_type(o["t"].GetString());
    const auto& val = o["v"];
    switch (v.type) {
      case Value::Type::Null:
        break;
      case Value::Type::Int:
      case Value::Type::Long:
      case Value::Type::OptionSet:
        v.i = val.GetInt64();
        break;
      case Value::Type::Bool:
        v.i = val.GetBool() ? 1 : 0;
        break;
      case Value::Type::Ref:
        v.ref = ref_from(val);
        break;
      case Value::Type::Parties:
        for (const auto& p : val.GetArray()) {
          Party party;
          if (p.HasMember("partyid")) party.partyid = ref_from(p["partyid"]);
          if (p.HasMember("addressused")) party.addressused = p["addressused"].GetString();
          party.participationtypemask = p["participationtypemask"].GetInt();
          v.parties.push_back(std::move(party));
        }
        break;
      default:
        v.s = val.GetString();
        break;
    }
    out.emplace(it->name.GetString(), std::move(v));
  }
  return out;
}

Store::Store(const std::string& path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec(
      "CREATE TABLE IF NOT EXISTS records(entity TEXT NOT NULL, id TEXT PRIMARY KEY, "
      "attributes TEXT NOT NULL, createdon TEXT NOT NULL, modifiedon TEXT NOT NULL, "
      "version INTEGER NOT NULL);"
      "CREATE INDEX IF NOT EXISTS records_entity_version ON records(entity, version);"
      "CREATE INDEX IF NOT EXISTS records_email1 ON records(entity, "
      "lower(json_extract(attributes, '$.emailaddress1.v')));"
      "CREATE INDEX IF NOT EXISTS records_email2 ON records(entity, "
      "lower(json_extract(attributes, '$.emailaddress2.v')));"
      "CREATE INDEX IF NOT EXISTS records_email3 ON records(entity, "
      "lower(json_extract(attributes, '$.emailaddress3.v')));"
      "CREATE TABLE IF NOT EXISTS deletions(entity TEXT NOT NULL, id TEXT NOT NULL, "
      "version INTEGER NOT NULL);"
      "CREATE INDEX IF NOT EXISTS deletions_entity_version ON deletions(entity, version);"
      "CREATE TABLE IF NOT EXISTS users(id TEXT PRIMARY KEY, fullname TEXT NOT NULL, "
      "token TEXT NOT NULL, sync_to_outlook INTEGER NOT NULL DEFAULT 1);"
      "CREATE INDEX IF NOT EXISTS users_token ON users(token);"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "INSERT OR IGNORE INTO meta(key, value) VALUES('seq', '0');");
  seq_ = std::stoll(meta("seq"));
  get_ = prepare("SELECT attributes, version FROM records WHERE entity=? AND id=?");
  exists_ = prepare("SELECT 1 FROM records WHERE id=?");
  insert_ = prepare(
      "INSERT INTO records(entity, id, attributes, createdon, modifiedon, version) "
      "VALUES(?,?,?,?,?,?)");
  update_ =
      prepare("UPDATE records SET attributes=?, modifiedon=?, version=? WHERE entity=? AND id=?");
  delete_ = prepare("DELETE FROM records WHERE entity=? AND id=?");
  log_delete_ = prepare("INSERT INTO deletions(entity, id, version) VALUES(?,?,?)");
  all_ = prepare("SELECT id, attributes, version FROM records WHERE entity=?");
  count_ = prepare("SELECT count(*) FROM records WHERE entity=?");
  // The expressions are those of the indexes, word for word, so that SQLite uses them.
  by_indexed_ = prepare(
      "SELECT id, attributes, version FROM records WHERE entity=?1 AND "
      "lower(json_extract(attributes, '$.emailaddress1.v'))=lower(?2) UNION "
      "SELECT id, attributes, version FROM records WHERE entity=?1 AND "
      "lower(json_extract(attributes, '$.emailaddress2.v'))=lower(?2) UNION "
      "SELECT id, attributes, version FROM records WHERE entity=?1 AND "
      "lower(json_extract(attributes, '$.emailaddress3.v'))=lower(?2)");
  changed_ = prepare(
      "SELECT id, attributes, version FROM records WHERE entity=? AND version>? "
      "ORDER BY version LIMIT ?");
  deleted_ = prepare(
      "SELECT id, version FROM deletions WHERE entity=? AND version>? ORDER BY version LIMIT ?");
  set_seq_ = prepare("UPDATE meta SET value=? WHERE key='seq'");
}

Store::~Store() {
  for (auto* s : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string("sqlite: ") + msg);
  }
}

sqlite3_stmt* Store::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
  stmts_.push_back(s);
  return s;
}

namespace {
struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};
void bind(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
std::string col(sqlite3_stmt* s, int i) {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}
void step_done(sqlite3* db, sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db));
}
}  // namespace

void Store::begin() {
  exec("BEGIN IMMEDIATE");
}
void Store::commit() {
  exec("COMMIT");
}
void Store::rollback() {
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
  seq_ = std::stoll(meta("seq"));
}

std::optional<Record> Store::get(const std::string& entity, const std::string& id) {
  Reset r{get_};
  bind(get_, 1, entity);
  bind(get_, 2, id);
  if (sqlite3_step(get_) != SQLITE_ROW) return std::nullopt;
  Record rec{entity, id, attributes_from_json(col(get_, 0)), sqlite3_column_int64(get_, 1)};
  return rec;
}

bool Store::id_exists(const std::string& id) {
  Reset r{exists_};
  bind(exists_, 1, id);
  return sqlite3_step(exists_) == SQLITE_ROW;
}

std::int64_t Store::next_seq() {
  ++seq_;
  Reset r{set_seq_};
  bind(set_seq_, 1, std::to_string(seq_));
  step_done(db_, set_seq_);
  return seq_;
}

void Store::write_record(Record& rec, bool insert) {
  rec.version = next_seq();
  Value version = Value::integer(rec.version);
  version.type = Value::Type::Long;  // a BigInt attribute, as Dynamics types it (d:long)
  rec.attrs["versionnumber"] = version;
  auto json = attributes_to_json(rec.attrs);
  auto text = [&](const char* a) {
    auto it = rec.attrs.find(a);
    return it == rec.attrs.end() ? std::string() : it->second.s;
  };
  if (insert) {
    Reset r{insert_};
    bind(insert_, 1, rec.entity);
    bind(insert_, 2, rec.id);
    bind(insert_, 3, json);
    bind(insert_, 4, text("createdon"));
    bind(insert_, 5, text("modifiedon"));
    sqlite3_bind_int64(insert_, 6, rec.version);
    step_done(db_, insert_);
  } else {
    Reset r{update_};
    bind(update_, 1, json);
    bind(update_, 2, text("modifiedon"));
    sqlite3_bind_int64(update_, 3, rec.version);
    bind(update_, 4, rec.entity);
    bind(update_, 5, rec.id);
    step_done(db_, update_);
  }
}

void Store::insert(Record& rec) {
  write_record(rec, true);
}
void Store::update(Record& rec) {
  write_record(rec, false);
}

bool Store::remove(const std::string& entity, const std::string& id) {
  {
    Reset r{delete_};
    bind(delete_, 1, entity);
    bind(delete_, 2, id);
    step_done(db_, delete_);
  }
  if (sqlite3_changes(db_) == 0) return false;
  auto v = next_seq();
  Reset r{log_delete_};
  bind(log_delete_, 1, entity);
  bind(log_delete_, 2, id);
  sqlite3_bind_int64(log_delete_, 3, v);
  step_done(db_, log_delete_);
  return true;
}

std::vector<Record> Store::all(const std::string& entity,
                               const std::optional<std::vector<std::string>>& any_of) {
  std::vector<Record> out;
  Reset r{all_};
  bind(all_, 1, entity);
  while (sqlite3_step(all_) == SQLITE_ROW) {
    if (any_of) {
      const auto* json = reinterpret_cast<const char*>(sqlite3_column_text(all_, 1));
      bool hit = false;
      for (const auto& t : *any_of) hit = hit || (json && strcasestr(json, t.c_str()));
      if (!hit) continue;
    }
    out.push_back(Record{entity, col(all_, 0), attributes_from_json(col(all_, 1)),
                         sqlite3_column_int64(all_, 2)});
  }
  return out;
}

bool Store::indexed(const std::string& attribute) {
  return attribute == "emailaddress1" || attribute == "emailaddress2" ||
         attribute == "emailaddress3";
}

std::vector<Record> Store::by_indexed(const std::string& entity,
                                      const std::vector<std::string>& values) {
  std::vector<Record> out;
  std::set<std::string> seen;
  for (const auto& v : values) {
    Reset r{by_indexed_};
    bind(by_indexed_, 1, entity);
    bind(by_indexed_, 2, v);
    while (sqlite3_step(by_indexed_) == SQLITE_ROW) {
      std::string id = col(by_indexed_, 0);
      if (!seen.insert(id).second) continue;
      out.push_back(Record{entity, std::move(id), attributes_from_json(col(by_indexed_, 1)),
                           sqlite3_column_int64(by_indexed_, 2)});
    }
  }
  return out;
}

std::int64_t Store::count(const std::string& entity) {
  Reset r{count_};
  bind(count_, 1, entity);
  return sqlite3_step(count_) == SQLITE_ROW ? sqlite3_column_int64(count_, 0) : 0;
}

std::vector<Change> Store::changes(const std::string& entity, std::int64_t since, int limit,
                                   bool with_deleted) {
  std::vector<Change> out;
  {
    Reset r{changed_};
    bind(changed_, 1, entity);
    sqlite3_bind_int64(changed_, 2, since);
    sqlite3_bind_int(changed_, 3, limit);
    while (sqlite3_step(changed_) == SQLITE_ROW) {
      Change c;
      c.record = Record{entity, col(changed_, 0), attributes_from_json(col(changed_, 1)),
                        sqlite3_column_int64(changed_, 2)};
      c.version = c.record.version;
      out.push_back(std::move(c));
    }
  }
  if (with_deleted) {
    Reset r{deleted_};
    bind(deleted_, 1, entity);
    sqlite3_bind_int64(deleted_, 2, since);
    sqlite3_bind_int(deleted_, 3, limit);
    while (sqlite3_step(deleted_) == SQLITE_ROW) {
      Change c;
      c.deleted = true;
      c.record.entity = entity;
      c.record.id = col(deleted_, 0);
      c.version = sqlite3_column_int64(deleted_, 1);
      out.push_back(std::move(c));
    }
    std::sort(out.begin(), out.end(),
              [](const Change& a, const Change& b) { return a.version < b.version; });
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
  }
  return out;
}

std::optional<User> Store::user_by_token(const std::string& token) {
  for (auto& u : users())
    if (u.token == token) return u;
  return std::nullopt;
}

std::optional<User> Store::user_by_id(const std::string& id) {
  for (auto& u : users())
    if (u.id == id) return u;
  return std::nullopt;
}

void Store::put_user(const User& u) {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_,
                     "INSERT INTO users(id, fullname, token, sync_to_outlook) VALUES(?,?,?,?) "
                     "ON CONFLICT(id) DO UPDATE SET fullname=excluded.fullname, "
                     "token=excluded.token, sync_to_outlook=excluded.sync_to_outlook",
                     -1, &s, nullptr);
  bind(s, 1, u.id);
  bind(s, 2, u.fullname);
  bind(s, 3, u.token);
  sqlite3_bind_int(s, 4, u.sync_to_outlook ? 1 : 0);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
}

std::vector<User> Store::users() {
  std::vector<User> out;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT id, fullname, token, sync_to_outlook FROM users", -1, &s,
                     nullptr);
  while (sqlite3_step(s) == SQLITE_ROW)
    out.push_back(User{col(s, 0), col(s, 1), col(s, 2), sqlite3_column_int(s, 3) != 0});
  sqlite3_finalize(s);
  return out;
}

std::string Store::meta(const std::string& key) {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key=?", -1, &s, nullptr);
  bind(s, 1, key);
  std::string v = sqlite3_step(s) == SQLITE_ROW ? col(s, 0) : std::string();
  sqlite3_finalize(s);
  return v;
}

void Store::set_meta(const std::string& key, const std::string& value) {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)", -1, &s, nullptr);
  bind(s, 1, key);
  bind(s, 2, value);
  step_done(db_, s);
  sqlite3_finalize(s);
}

void Store::wipe() {
  exec("DELETE FROM records; DELETE FROM deletions; DELETE FROM users;");
}

}  // namespace crm_emulator
