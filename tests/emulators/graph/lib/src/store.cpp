#include "store.hpp"

#include "emulator/admin.hpp"
#include "util.hpp"

namespace graph_emulator {

using emulator::Stmt;

namespace {

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users(id TEXT PRIMARY KEY, upn TEXT NOT NULL UNIQUE COLLATE NOCASE,
  token TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS containers(id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
  kind TEXT NOT NULL, wellknown TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL,
  parent TEXT NOT NULL, data TEXT NOT NULL, change_key TEXT NOT NULL, seq INTEGER NOT NULL,
  created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  tx TEXT NOT NULL DEFAULT '', created_seq INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS items_coll ON items(user_id, kind, parent, seq);
CREATE TABLE IF NOT EXISTS categories(id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
  name TEXT NOT NULL COLLATE NOCASE, color TEXT NOT NULL, UNIQUE(user_id, name));
CREATE TABLE IF NOT EXISTS delta_states(token TEXT PRIMARY KEY, user_id TEXT NOT NULL,
  collection TEXT NOT NULL, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL,
  after_seq INTEGER NOT NULL, params TEXT NOT NULL, is_delta INTEGER NOT NULL);
)";

const char* kItemCols =
    "id, user_id, kind, parent, data, change_key, seq, created_ms, modified_ms, deleted, tx, "
    "created_seq";

Item item_row(Stmt& q) {
  Item it;
  it.id = q.text(0);
  it.user = q.text(1);
  it.kind = q.text(2);
  it.parent = q.text(3);
  it.data = q.text(4);
  it.change_key = q.text(5);
  it.seq = q.i64(6);
  it.created_ms = q.i64(7);
  it.modified_ms = q.i64(8);
  it.deleted = q.i64(9) != 0;
  it.tx = q.text(10);
  it.created_seq = q.i64(11);
  return it;
}

Container container_row(Stmt& q) {
  return Container{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)};
}

}  // namespace

Store::Store(const std::string& path) : db_(path, kSchema) {}

std::int64_t Store::next_seq() {
  Stmt(db_, "INSERT INTO meta(k, v) VALUES('seq', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1").run();
  return seq();
}

std::int64_t Store::seq() {
  Stmt q(db_, "SELECT v FROM meta WHERE k='seq'");
  return q.step() ? q.i64(0) : 0;
}

User Store::create_user(const std::string& upn, const std::string& id) {
  User u{id.empty() ? new_guid() : id, upn, random_token(32)};
  emulator::Db::Transaction t(db_);
  Stmt q(db_, "INSERT INTO users(id, upn, token) VALUES(?,?,?)");
  q.bind(1, u.id).bind(2, u.upn).bind(3, u.token).run();
  create_container(u.id, "contactFolder", "Contacts", "contacts");
  create_container(u.id, "calendar", "Calendar", "calendar");
  create_container(u.id, "mailFolder", "Inbox", "inbox");
  create_container(u.id, "mailFolder", "Sent Items", "sentitems");
  create_container(u.id, "mailFolder", "Drafts", "drafts");
  create_container(u.id, "mailFolder", "Deleted Items", "deleteditems");
  create_container(u.id, "todoTaskList", "Tasks", "defaultList");
  t.commit();
  return u;
}

std::optional<User> Store::user_by_token(const std::string& token) {
  Stmt q(db_, "SELECT id, upn, token FROM users WHERE token=?");
  q.bind(1, token);
  if (!q.step()) return std::nullopt;
  return User{q.text(0), q.text(1), q.text(2)};
}

std::optional<User> Store::user(const std::string& id_or_upn) {
  Stmt q(db_, "SELECT id, upn, token FROM users WHERE id=? COLLATE NOCASE OR upn=?");
  q.bind(1, id_or_upn).bind(2, id_or_upn);
  if (!q.step()) return std::nullopt;
  return User{q.text(0), q.text(1), q.text(2)};
}

std::vector<Container> Store::containers(const std::string& user, const std::string& kind) {
  Stmt q(db_,
         "SELECT id, user_id, kind, wellknown, name FROM containers WHERE user_id=? AND kind=? "
         "ORDER BY rowid");
  q.bind(1, user).bind(2, kind);
  std::vector<Container> out;
  while (q.step()) out.push_back(container_row(q));
  return out;
}

std::optional<Container> Store::container(const std::string& user, const std::string& kind,
                                          const std::string& key) {
  Stmt q(db_,
         "SELECT id, user_id, kind, wellknown, name FROM containers WHERE user_id=? AND kind=? "
         "AND (id=? OR (wellknown<>'' AND lower(wellknown)=lower(?)))");
  q.bind(1, user).bind(2, kind).bind(3, key).bind(4, key);
  if (!q.step()) return std::nullopt;
  return container_row(q);
}

Container Store::create_container(const std::string& user, const std::string& kind,
                                  const std::string& name, const std::string& wellknown) {
  Container c{new_item_id(), user, kind, wellknown, name};
  Stmt q(db_, "INSERT INTO containers(id, user_id, kind, wellknown, name) VALUES(?,?,?,?,?)");
  q.bind(1, c.id).bind(2, user).bind(3, kind).bind(4, wellknown).bind(5, name).run();
  return c;
}

std::optional<Item> Store::item(const std::string& user, const std::string& id) {
  Stmt q(db_,
         (std::string("SELECT ") + kItemCols + " FROM items WHERE user_id=? AND id=? AND deleted=0")
             .c_str());
  q.bind(1, user).bind(2, id);
  if (!q.step()) return std::nullopt;
  return item_row(q);
}

std::vector<Item> Store::items(const std::string& user, const std::string& kind,
                               const std::string& parent) {
  Stmt q(db_, (std::string("SELECT ") + kItemCols +
               " FROM items WHERE user_id=? AND kind=? AND (parent=? OR ?='') AND deleted=0 "
               "ORDER BY created_ms DESC, rowid DESC")
                  .c_str());
  q.bind(1, user).bind(2, kind).bind(3, parent).bind(4, parent);
  std::vector<Item> out;
  while (q.step()) out.push_back(item_row(q));
  return out;
}

std::vector<Item> Store::changed(const std::string& user, const std::string& kind,
                                 const std::string& parent, std::int64_t from, std::int64_t to) {
  Stmt q(db_, (std::string("SELECT ") + kItemCols +
               " FROM items WHERE user_id=? AND kind=? AND parent=? AND seq>? AND seq<=? "
               "ORDER BY seq")
                  .c_str());
  q.bind(1, user).bind(2, kind).bind(3, parent).bind(4, from).bind(5, to);
  std::vector<Item> out;
  while (q.step()) out.push_back(item_row(q));
  return out;
}

std::optional<Item> Store::by_transaction(const std::string& user, const std::string& tx) {
  Stmt q(db_, (std::string("SELECT ") + kItemCols +
               " FROM items WHERE user_id=? AND tx=? AND tx<>'' AND deleted=0")
                  .c_str());
  q.bind(1, user).bind(2, tx);
  if (!q.step()) return std::nullopt;
  return item_row(q);
}

void Store::insert(Item& it) {
  it.seq = next_seq();
  it.change_key = new_change_key();
  it.created_ms = it.modified_ms = emulator::now_ms();
  Stmt q(db_, (std::string("INSERT INTO items(") + kItemCols + ") VALUES(?,?,?,?,?,?,?,?,?,0,?,?)")
                  .c_str());
  q.bind(1, it.id).bind(2, it.user).bind(3, it.kind).bind(4, it.parent).bind(5, it.data);
  q.bind(6, it.change_key).bind(7, it.seq).bind(8, it.created_ms).bind(9, it.modified_ms);
  q.bind(10, it.tx).bind(11, it.seq).run();
  it.created_seq = it.seq;
}

void Store::update(Item& it) {
  it.seq = next_seq();
  it.change_key = new_change_key();
  it.modified_ms = emulator::now_ms();
  Stmt q(db_,
         "UPDATE items SET data=?, change_key=?, seq=?, modified_ms=?, parent=? WHERE id=? AND "
         "user_id=?");
  q.bind(1, it.data).bind(2, it.change_key).bind(3, it.seq).bind(4, it.modified_ms);
  q.bind(5, it.parent).bind(6, it.id).bind(7, it.user).run();
}

void Store::remove(Item& it) {
  it.seq = next_seq();
  it.deleted = true;
  Stmt q(db_, "UPDATE items SET deleted=1, seq=?, tx='' WHERE id=? AND user_id=?");
  q.bind(1, it.seq).bind(2, it.id).bind(3, it.user).run();
}

std::vector<Category> Store::categories(const std::string& user) {
  Stmt q(db_, "SELECT id, user_id, name, color FROM categories WHERE user_id=? ORDER BY rowid");
  q.bind(1, user);
  std::vector<Category> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2), q.text(3)});
  return out;
}

std::optional<Category> Store::category(const std::string& user, const std::string& id) {
  Stmt q(db_, "SELECT id, user_id, name, color FROM categories WHERE user_id=? AND id=?");
  q.bind(1, user).bind(2, id);
  if (!q.step()) return std::nullopt;
  return Category{q.text(0), q.text(1), q.text(2), q.text(3)};
}

std::optional<Category> Store::category_named(const std::string& user, const std::string& name) {
  Stmt q(db_, "SELECT id, user_id, name, color FROM categories WHERE user_id=? AND name=?");
  q.bind(1, user).bind(2, name);
  if (!q.step()) return std::nullopt;
  return Category{q.text(0), q.text(1), q.text(2), q.text(3)};
}

void Store::put_category(const Category& c) {
  Stmt q(db_,
         "INSERT INTO categories(id, user_id, name, color) VALUES(?,?,?,?) ON CONFLICT(id) DO "
         "UPDATE SET name=excluded.name, color=excluded.color");
  q.bind(1, c.id).bind(2, c.user).bind(3, c.name).bind(4, c.color).run();
}

void Store::delete_category(const std::string& user, const std::string& id) {
  Stmt q(db_, "DELETE FROM categories WHERE user_id=? AND id=?");
  q.bind(1, user).bind(2, id).run();
}

void Store::put_state(const DeltaState& s) {
  Stmt q(db_,
         "INSERT INTO delta_states(token, user_id, collection, from_seq, to_seq, after_seq, "
         "params, is_delta) VALUES(?,?,?,?,?,?,?,?)");
  q.bind(1, s.token).bind(2, s.user).bind(3, s.collection).bind(4, s.from).bind(5, s.to);
  q.bind(6, s.after).bind(7, s.params).bind(8, static_cast<std::int64_t>(s.delta_token)).run();
}

std::optional<DeltaState> Store::state(const std::string& token) {
  Stmt q(db_,
         "SELECT token, user_id, collection, from_seq, to_seq, after_seq, params, is_delta FROM "
         "delta_states WHERE token=?");
  q.bind(1, token);
  if (!q.step()) return std::nullopt;
  DeltaState s;
  s.token = q.text(0);
  s.user = q.text(1);
  s.collection = q.text(2);
  s.from = q.i64(3);
  s.to = q.i64(4);
  s.after = q.i64(5);
  s.params = q.text(6);
  s.delta_token = q.i64(7) != 0;
  return s;
}

void Store::drop_states() {
  db_.exec("DELETE FROM delta_states");
}

void Store::reset() {
  db_.exec(
      "DELETE FROM delta_states; DELETE FROM categories; DELETE FROM items; DELETE FROM "
      "containers; DELETE FROM users; DELETE FROM meta;");
}

}  // namespace graph_emulator
