// graph-emulator's SQLite mailboxes: users, folders/lists ("containers"), items kept as Graph
// JSON with a change key and a change sequence (tombstones stay for delta), master categories
// and the delta states behind the opaque $skiptoken/$deltatoken values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/sqlite.hpp"

namespace graph_emulator {

struct User {
  std::string id, upn, token;
};

struct Container {
  std::string id, user, kind;  // kind: contactFolder, calendar, mailFolder, todoTaskList
  std::string wellknown;       // inbox, sentitems, drafts, deleteditems, defaultList, "" ...
  std::string name;
};

struct Item {
  std::string id, user, kind, parent;  // kind: contact, event, message, todoTask
  std::string data;                    // the stored Graph JSON object
  std::string change_key;
  std::int64_t seq = 0, created_ms = 0, modified_ms = 0;
  std::int64_t created_seq = 0;  // the seq of its creation (message delta's changeType)
  bool deleted = false;
  std::string tx;  // event transactionId
};

struct Category {
  std::string id, user, name, color;
};

struct DeltaState {
  std::string token, user, collection;
  std::int64_t from = 0, to = 0, after = 0;  // the round's (from, to] and the last seq sent
  std::string params;                        // window etc., JSON
  bool delta_token = false;                  // a $deltatoken (else a $skiptoken)
};

class Store {
 public:
  explicit Store(const std::string& path);

  // Users (with their default folders, calendar and To Do list).
  User create_user(const std::string& upn, const std::string& id = "");
  std::optional<User> user_by_token(const std::string& token);
  std::optional<User> user(const std::string& id_or_upn);

  std::vector<Container> containers(const std::string& user, const std::string& kind);
  std::optional<Container> container(const std::string& user, const std::string& kind,
                                     const std::string& id_or_wellknown);
  Container create_container(const std::string& user, const std::string& kind,
                             const std::string& name, const std::string& wellknown = "");

  std::optional<Item> item(const std::string& user, const std::string& id);
  std::vector<Item> items(const std::string& user, const std::string& kind,
                          const std::string& parent);
  // Live and deleted items changed in (from, to], by seq.
  std::vector<Item> changed(const std::string& user, const std::string& kind,
                            const std::string& parent, std::int64_t from, std::int64_t to);
  std::optional<Item> by_transaction(const std::string& user, const std::string& tx);
  // Each write takes the next seq and a new change key (set on `it`).
  void insert(Item& it);
  void update(Item& it);
  void remove(Item& it);
  std::int64_t seq();

  std::vector<Category> categories(const std::string& user);
  std::optional<Category> category(const std::string& user, const std::string& id);
  std::optional<Category> category_named(const std::string& user, const std::string& name);
  void put_category(const Category& c);
  void delete_category(const std::string& user, const std::string& id);

  void put_state(const DeltaState& s);
  std::optional<DeltaState> state(const std::string& token);
  void drop_states();

  void reset();
  emulator::Db& db() { return db_; }

 private:
  std::int64_t next_seq();
  emulator::Db db_;
};

}  // namespace graph_emulator
