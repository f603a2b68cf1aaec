#include "store.hpp"

#include <stdexcept>

#include "util.hpp"

namespace ews_emulator {

namespace {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(sqlite3_db_handle(st_)));
  }
  std::string str(int i) {
    auto* p = sqlite3_column_text(st_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(st_, i)))
             : std::string();
  }
  std::int64_t i64(int i) { return sqlite3_column_int64(st_, i); }

 private:
  sqlite3_stmt* st_ = nullptr;
};

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE,
  password TEXT, token TEXT UNIQUE, auth TEXT NOT NULL DEFAULT 'any',
  ntlm_user TEXT COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS folders(id TEXT PRIMARY KEY, mailbox INTEGER, name TEXT,
  parent TEXT, display TEXT);
CREATE TABLE IF NOT EXISTS items(id TEXT PRIMARY KEY, mailbox INTEGER, folder TEXT, kind TEXT,
  xml TEXT, cn INTEGER, created TEXT, modified TEXT, ord INTEGER);
CREATE INDEX IF NOT EXISTS items_folder ON items(folder, ord);
CREATE TABLE IF NOT EXISTS field_changes(item TEXT, cn INTEGER, field TEXT);
CREATE INDEX IF NOT EXISTS field_changes_item ON field_changes(item, cn);
CREATE TABLE IF NOT EXISTS sync_states(token TEXT PRIMARY KEY, folder TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, mailbox INTEGER,
  type TEXT, item TEXT, cn INTEGER, folder TEXT, old_item TEXT, old_folder TEXT, ts TEXT);
CREATE TABLE IF NOT EXISTS counters(k TEXT PRIMARY KEY, v INTEGER);
CREATE TABLE IF NOT EXISTS user_configs(folder TEXT, name TEXT, id TEXT, cn INTEGER,
  dictionary TEXT, xml_data TEXT, binary_data TEXT, PRIMARY KEY(folder, name));
)";

// Folder tree of a new mailbox: root > msgfolderroot > the usual folders.
const char* kFolders[][2] = {
    {"contacts", "Contacts"},
    {"tasks", "Tasks"},
    {"calendar", "Calendar"},
    {"inbox", "Inbox"},
    {"sentitems", "Sent Items"},
    {"drafts", "Drafts"},
    {"deleteditems", "Deleted Items"},
    {"outbox", "Outbox"},
    {"junkemail", "Junk Email"},
    {"notes", "Notes"},
    {"journal", "Journal"},
};

User read_user(Stmt& s) {
  return User{s.i64(0), s.str(1), s.str(2), s.str(3), s.str(4), s.str(5)};
}
Folder read_folder(Stmt& s) {
  return Folder{s.str(0), s.i64(1), s.str(2), s.str(3), s.str(4)};
}
Item read_item(Stmt& s) {
  return Item{s.str(0), s.i64(1), s.str(2), s.str(3), s.str(4), s.i64(5), s.str(6), s.str(7)};
}

}  // namespace

Store::Store(const std::string& path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
    throw std::runtime_error("cannot open database " + path);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec(kSchema);
}

Store::~Store() {
  sqlite3_close(db_);
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + m);
  }
}

void Store::begin() {
  exec("BEGIN IMMEDIATE");
}
void Store::commit() {
  exec("COMMIT");
}
void Store::rollback() {
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
}

void Store::reset() {
  exec(
      "DELETE FROM users; DELETE FROM folders; DELETE FROM items; DELETE FROM field_changes;"
      "DELETE FROM sync_states; DELETE FROM events; DELETE FROM counters;"
      "DELETE FROM user_configs;");
}

User Store::add_user(const std::string& email, const std::string& password, const std::string& auth,
                     const std::string& ntlm_user) {
  User u;
  u.email = email;
  u.password = password;
  u.auth = auth;
  u.ntlm_user = ntlm_user;
  u.token = base64_encode(random_bytes(24));
  for (auto& c : u.token)
    if (c == '+' || c == '/') c = 'x';
  Stmt(db_, "INSERT INTO users(email,password,token,auth,ntlm_user) VALUES(?,?,?,?,?)")
      .bind(1, email)
      .bind(2, password)
      .bind(3, u.token)
      .bind(4, auth)
      .bind(5, ntlm_user)
      .step();
  u.id = sqlite3_last_insert_rowid(db_);
  auto add = [&](const std::string& name, const std::string& parent, const std::string& display) {
    std::string id = make_opaque('\x01', be64(static_cast<std::uint64_t>(u.id)) + name);
    Stmt(db_, "INSERT INTO folders VALUES(?,?,?,?,?)")
        .bind(1, id)
        .bind(2, u.id)
        .bind(3, name)
        .bind(4, parent)
        .bind(5, display)
        .step();
    return id;
  };
  std::string root = add("root", "", "");
  std::string top = add("msgfolderroot", root, "Top of Information Store");
  for (auto& f : kFolders) add(f[0], top, f[1]);
  return u;
}

std::optional<User> Store::user_by_email(const std::string& email) {
  Stmt s(db_, "SELECT id,email,password,token,auth,ntlm_user FROM users WHERE email=?");
  s.bind(1, email);
  if (!s.step()) return std::nullopt;
  return read_user(s);
}

std::optional<User> Store::user_by_token(const std::string& token) {
  Stmt s(db_, "SELECT id,email,password,token,auth,ntlm_user FROM users WHERE token=?");
  s.bind(1, token);
  if (!s.step()) return std::nullopt;
  return read_user(s);
}

std::vector<User> Store::users() {
  Stmt s(db_, "SELECT id,email,password,token,auth,ntlm_user FROM users ORDER BY id");
  std::vector<User> out;
  while (s.step()) out.push_back(read_user(s));
  return out;
}

std::vector<Folder> Store::folders(std::int64_t mailbox) {
  Stmt s(db_, "SELECT id,mailbox,name,parent,display FROM folders WHERE mailbox=? ORDER BY rowid");
  s.bind(1, mailbox);
  std::vector<Folder> out;
  while (s.step()) out.push_back(read_folder(s));
  return out;
}

std::optional<UserConfig> Store::user_config(const std::string& folder, const std::string& name) {
  Stmt s(db_,
         "SELECT folder,name,id,cn,dictionary,xml_data,binary_data FROM user_configs "
         "WHERE folder=? AND name=?");
  s.bind(1, folder).bind(2, name);
  if (!s.step()) return std::nullopt;
  return UserConfig{s.str(0), s.str(1), s.str(2), s.i64(3), s.str(4), s.str(5), s.str(6)};
}

void Store::put_user_config(const UserConfig& c) {
  Stmt s(db_,
         "INSERT OR REPLACE INTO user_configs(folder,name,id,cn,dictionary,xml_data,binary_data) "
         "VALUES(?,?,?,?,?,?,?)");
  s.bind(1, c.folder).bind(2, c.name).bind(3, c.id).bind(4, c.cn).bind(5, c.dictionary);
  s.bind(6, c.xml_data).bind(7, c.binary_data);
  s.step();
}

void Store::delete_user_config(const std::string& folder, const std::string& name) {
  Stmt s(db_, "DELETE FROM user_configs WHERE folder=? AND name=?");
  s.bind(1, folder).bind(2, name);
  s.step();
}

std::optional<Folder> Store::folder(const std::string& id) {
  Stmt s(db_, "SELECT id,mailbox,name,parent,display FROM folders WHERE id=?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_folder(s);
}

std::optional<Folder> Store::distinguished(std::int64_t mailbox, const std::string& name) {
  Stmt s(db_, "SELECT id,mailbox,name,parent,display FROM folders WHERE mailbox=? AND name=?");
  s.bind(1, mailbox).bind(2, name);
  if (!s.step()) return std::nullopt;
  return read_folder(s);
}

std::optional<Item> Store::item(const std::string& id) {
  Stmt s(db_, "SELECT id,mailbox,folder,kind,xml,cn,created,modified FROM items WHERE id=?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_item(s);
}

std::vector<Item> Store::items_in(const std::string& folder) {
  Stmt s(db_,
         "SELECT id,mailbox,folder,kind,xml,cn,created,modified FROM items WHERE folder=? "
         "ORDER BY ord");
  s.bind(1, folder);
  std::vector<Item> out;
  while (s.step()) out.push_back(read_item(s));
  return out;
}

std::int64_t Store::count_in(const std::string& folder) {
  Stmt s(db_, "SELECT count(*) FROM items WHERE folder=?");
  s.bind(1, folder);
  s.step();
  return s.i64(0);
}

void Store::put_item(const Item& it) {
  Stmt(db_,
       "INSERT INTO items(id,mailbox,folder,kind,xml,cn,created,modified,ord) "
       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?6) ON CONFLICT(id) DO UPDATE SET mailbox=?2, folder=?3, "
       "kind=?4, xml=?5, cn=?6, modified=?8")
      .bind(1, it.id)
      .bind(2, it.mailbox)
      .bind(3, it.folder)
      .bind(4, it.kind)
      .bind(5, it.xml)
      .bind(6, it.cn)
      .bind(7, it.created)
      .bind(8, it.modified)
      .step();
}

void Store::delete_item(const std::string& id) {
  Stmt(db_, "DELETE FROM items WHERE id=?").bind(1, id).step();
  Stmt(db_, "DELETE FROM field_changes WHERE item=?").bind(1, id).step();
}

std::int64_t Store::next_cn() {
  Stmt(db_, "INSERT INTO counters VALUES('cn',1) ON CONFLICT(k) DO UPDATE SET v=v+1").step();
  Stmt s(db_, "SELECT v FROM counters WHERE k='cn'");
  s.step();
  return s.i64(0);
}

void Store::record_fields(const std::string& item, std::int64_t cn,
                          const std::vector<std::string>& fields) {
  for (const auto& f : fields)
    Stmt(db_, "INSERT INTO field_changes VALUES(?,?,?)")
        .bind(1, item)
        .bind(2, cn)
        .bind(3, f)
        .step();
}

std::int64_t Store::changed_since(const std::string& item, std::int64_t since,
                                  const std::vector<std::string>& fields) {
  std::int64_t best = 0;
  for (const auto& f : fields) {
    Stmt s(db_,
           "SELECT coalesce(max(cn),0) FROM field_changes WHERE item=? AND cn>? AND "
           "(field=? OR field='*')");
    s.bind(1, item).bind(2, since).bind(3, f);
    s.step();
    best = std::max(best, s.i64(0));
  }
  return best;
}

void Store::put_sync_state(const std::string& token, const std::string& folder,
                           const std::string& data) {
  Stmt(db_, "INSERT OR REPLACE INTO sync_states VALUES(?,?,?)")
      .bind(1, token)
      .bind(2, folder)
      .bind(3, data)
      .step();
}

std::optional<std::pair<std::string, std::string>> Store::sync_state(const std::string& token) {
  Stmt s(db_, "SELECT folder,data FROM sync_states WHERE token=?");
  s.bind(1, token);
  if (!s.step()) return std::nullopt;
  return std::make_pair(s.str(0), s.str(1));
}

std::int64_t Store::append_event(const Event& e) {
  Stmt(db_,
       "INSERT INTO events(mailbox,type,item,cn,folder,old_item,old_folder,ts) "
       "VALUES(?,?,?,?,?,?,?,?)")
      .bind(1, e.mailbox)
      .bind(2, e.type)
      .bind(3, e.item)
      .bind(4, e.cn)
      .bind(5, e.folder)
      .bind(6, e.old_item)
      .bind(7, e.old_folder)
      .bind(8, e.ts)
      .step();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<Event> Store::events_after(std::int64_t mailbox, std::int64_t seq, int limit) {
  Stmt s(db_,
         "SELECT seq,mailbox,type,item,cn,folder,old_item,old_folder,ts FROM events "
         "WHERE mailbox=? AND seq>? ORDER BY seq LIMIT ?");
  s.bind(1, mailbox).bind(2, seq).bind(3, static_cast<std::int64_t>(limit));
  std::vector<Event> out;
  while (s.step())
    out.push_back(Event{s.i64(0), s.i64(1), s.str(2), s.str(3), s.i64(4), s.str(5), s.str(6),
                        s.str(7), s.str(8)});
  return out;
}

std::int64_t Store::last_event_seq() {
  Stmt s(db_, "SELECT coalesce(max(seq),0) FROM events");
  s.step();
  return s.i64(0);
}

}  // namespace ews_emulator
