// SQLite storage of the emulated organization: records, the deletion log, users
// and the per-database change sequence. One connection, prepared statements.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "model.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace crm_emulator {

struct User {
  std::string id;
  std::string fullname;
  std::string token;
  bool sync_to_outlook = true;
};

struct Change {
  bool deleted = false;
  Record record;  // for a deletion only entity and id are set
  std::int64_t version = 0;
};

class Store {
 public:
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void begin();
  void commit();
  void rollback();

  std::optional<Record> get(const std::string& entity, const std::string& id);
  bool id_exists(const std::string& id);
  // Assign the next change sequence to record.version and store it.
  void insert(Record& record);
  void update(Record& record);
  bool remove(const std::string& entity, const std::string& id);
  // With any_of: only records whose stored attributes contain one of these texts
  // (ASCII case-insensitive), the others skipped before they are parsed.
  std::vector<Record> all(const std::string& entity,
                          const std::optional<std::vector<std::string>>& any_of = std::nullopt);
  // The attributes with an equality index, as Dynamics indexes a contact's e-mail addresses
  // (the E2 lookup must not read every record).
  static bool indexed(const std::string& attribute);
  // Records of `entity` whose indexed attribute equals one of `values` (ASCII
  // case-insensitively), each once: a candidate set that the caller still filters.
  std::vector<Record> by_indexed(const std::string& entity, const std::vector<std::string>& values);
  std::int64_t count(const std::string& entity);
  // Changes of an entity with version > since, ascending, at most limit
  // (deletions only when with_deleted).
  std::vector<Change> changes(const std::string& entity, std::int64_t since, int limit,
                              bool with_deleted);
  std::int64_t current_seq() const { return seq_; }

  std::optional<User> user_by_token(const std::string& token);
  std::optional<User> user_by_id(const std::string& id);
  void put_user(const User& user);
  std::vector<User> users();

  std::string meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);
  // Drop every record, deletion and user; the change sequence keeps counting.
  void wipe();
  // The connection, for tables kept beside the store's own (caller.cpp's identities).
  sqlite3* handle() { return db_; }

 private:
  void exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  std::int64_t next_seq();
  void write_record(Record& record, bool insert);

  sqlite3* db_ = nullptr;
  std::int64_t seq_ = 0;
  std::vector<sqlite3_stmt*> stmts_;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* exists_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* log_delete_ = nullptr;
  sqlite3_stmt* all_ = nullptr;
  sqlite3_stmt* by_indexed_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* changed_ = nullptr;
  sqlite3_stmt* deleted_ = nullptr;
  sqlite3_stmt* set_seq_ = nullptr;
};

// Attribute (de)serialization for the blob column, and the simple JSON form of
// the admin API ({"firstname": "Jane", "parentcustomerid": {"logicalname", "id", "name"}}).
std::string attributes_to_json(const Attributes& attrs);
Attributes attributes_from_json(const std::string& json);
void value_to_simple_json(const Value& v, rapidjson::Value& out,
                          rapidjson::Document::AllocatorType& alloc);

}  // namespace crm_emulator
