#include "state.hpp"

namespace crmsync::graph {
namespace {

constexpr int kVersion = 1;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS delta(collection TEXT PRIMARY KEY, link TEXT NOT NULL,"
    " mode TEXT NOT NULL, round INTEGER NOT NULL, window_start INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS known(entry_id TEXT PRIMARY KEY, collection TEXT NOT NULL,"
    " kind TEXT NOT NULL, folder TEXT NOT NULL, change_key TEXT NOT NULL,"
    " modified INTEGER NOT NULL, tracked INTEGER NOT NULL, crm_id TEXT,"
    " category INTEGER NOT NULL, seen INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS known_crm_id ON known(crm_id);"
    "CREATE INDEX IF NOT EXISTS known_modified ON known(kind, modified);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL, entry_id TEXT NOT NULL, action TEXT NOT NULL,"
    " surface TEXT NOT NULL, phase TEXT NOT NULL, delete_in_crm INTEGER NOT NULL,"
    " at INTEGER NOT NULL);";

constexpr const char* kColumns =
    "entry_id, collection, kind, folder, change_key, modified, tracked, crm_id, category";

Result<Known> row_of(sql::Statement& st, const std::string& who) {
  Known k;
  k.entry_id = st.text(0);
  k.collection = st.text(1);
  auto kind = parse_item_kind(st.text(2));
  auto folder = parse_folder(st.text(3));
  if (!kind || !folder) return Error::Corrupt(who + ": malformed item row " + k.entry_id);
  k.kind = *kind;
  k.folder = *folder;
  k.change_key = st.text(4);
  k.modified = UtcTime{st.int64(5)};
  k.tracked = st.int64(6) != 0;
  if (!st.is_null(7)) {
    auto id = CrmId::parse(st.text(7));
    if (!id) return Error::Corrupt(who + ": malformed CRM id of " + k.entry_id);
    k.crm_id = *id;
  }
  k.category = st.int64(8) != 0;
  return k;
}

Result<std::vector<Known>> rows(sql::Statement& st, const std::string& who) {
  std::vector<Known> out;
  for (;;) {
    auto row = st.step();
    if (!row) return row.error();
    if (!*row) return out;
    auto k = row_of(st, who);
    if (!k) return k.error();
    out.push_back(std::move(*k));
  }
}

std::string_view mode_text(DeltaRow::Mode m) {
  switch (m) {
    case DeltaRow::Mode::kBaseline:
      return "baseline";
    case DeltaRow::Mode::kIncremental:
      return "incremental";
    case DeltaRow::Mode::kReconcile:
      return "reconcile";
  }
  return "baseline";
}

}  // namespace

Result<State> State::open(const std::string& path, const std::string& mailbox) {
  const std::string who = "Graph state file " + path;
  auto db = sql::Database::open(path);
  if (!db) return db.error();
  auto version = db->user_version();
  if (!version) return version.error();
  if (*version > kVersion)
    return Error::Corrupt(who + " has version " + std::to_string(*version) +
                          ", newer than this binary's " + std::to_string(kVersion));
  CRMSYNC_TRY(db->use_wal());
  CRMSYNC_TRY(db->exec(kSchema));
  if (*version < kVersion) CRMSYNC_TRY(db->set_user_version(kVersion));
  State s(std::move(*db), who);
  // One file, one mailbox: another's delta links and items would be taken for this one's.
  auto tx = sql::Transaction::begin(s.db_);
  if (!tx) return tx.error();
  auto owner = s.meta("mailbox");
  if (!owner) return owner.error();
  if (*owner && **owner != mailbox)
    return Error::Corrupt(who + " belongs to mailbox " + **owner + ", not " + mailbox);
  if (!*owner) CRMSYNC_TRY(s.set_meta("mailbox", mailbox));
  CRMSYNC_TRY(tx->commit());
  return s;
}

Result<std::optional<std::string>> State::meta(const std::string& key) {
  auto st = db_.prepare("SELECT value FROM meta WHERE key = ?1");
  if (!st) return st.error();
  st->bind(1, key);
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->text(0));
}

Result<void> State::set_meta(const std::string& key, const std::string& value) {
  auto st = db_.prepare(
      "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
  if (!st) return st.error();
  return st->bind(1, key).bind(2, value).run();
}

Result<std::optional<Known>> State::known(const std::string& entry_id) {
  auto st = db_.prepare(std::string("SELECT ") + kColumns + " FROM known WHERE entry_id = ?1");
  if (!st) return st.error();
  st->bind(1, entry_id);
  auto all = rows(*st, who_);
  if (!all) return all.error();
  if (all->empty()) return std::optional<Known>();
  return std::optional<Known>(std::move(all->front()));
}

Result<void> State::upsert(const Known& k, std::int64_t seen_round) {
  auto st = db_.prepare(
      "INSERT INTO known(entry_id, collection, kind, folder, change_key, modified, tracked,"
      " crm_id, category, seen) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
      " ON CONFLICT(entry_id) DO UPDATE SET collection = ?2, kind = ?3, folder = ?4,"
      " change_key = ?5, modified = ?6, tracked = ?7, crm_id = ?8, category = ?9,"
      " seen = max(seen, ?10)");
  if (!st) return st.error();
  st->bind(1, k.entry_id).bind(2, k.collection).bind(3, to_string(k.kind));
  st->bind(4, to_string(k.folder)).bind(5, k.change_key).bind(6, k.modified.ms);
  st->bind(7, std::int64_t{k.tracked});
  if (k.crm_id)
    st->bind(8, k.crm_id->str());
  else
    st->bind_null(8);
  st->bind(9, std::int64_t{k.category}).bind(10, seen_round);
  return st->run();
}

Result<void> State::forget(const std::string& entry_id) {
  auto st = db_.prepare("DELETE FROM known WHERE entry_id = ?1");
  if (!st) return st.error();
  return st->bind(1, entry_id).run();
}

Result<std::vector<Known>> State::modified_since(ItemKind kind, UtcTime since) {
  auto st = db_.prepare(std::string("SELECT ") + kColumns +
                        " FROM known WHERE kind = ?1 AND modified >= ?2"
                        " ORDER BY modified DESC, entry_id");
  if (!st) return st.error();
  st->bind(1, to_string(kind)).bind(2, since.ms);
  return rows(*st, who_);
}

Result<std::vector<std::string>> State::by_crm_id(const CrmId& id) {
  auto st = db_.prepare("SELECT entry_id FROM known WHERE crm_id = ?1 ORDER BY entry_id");
  if (!st) return st.error();
  st->bind(1, id.str());
  std::vector<std::string> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return out;
    out.push_back(st->text(0));
  }
}

Result<std::vector<Known>> State::unseen(const std::string& collection, std::int64_t round) {
  auto st = db_.prepare(std::string("SELECT ") + kColumns +
                        " FROM known WHERE collection = ?1 AND seen < ?2");
  if (!st) return st.error();
  st->bind(1, collection).bind(2, round);
  return rows(*st, who_);
}

Result<void> State::mark_seen(const std::string& entry_id, std::int64_t round) {
  auto st = db_.prepare("UPDATE known SET seen = max(seen, ?2) WHERE entry_id = ?1");
  if (!st) return st.error();
  return st->bind(1, entry_id).bind(2, round).run();
}

Result<std::optional<DeltaRow>> State::delta(const std::string& collection) {
  auto st = db_.prepare("SELECT link, mode, round, window_start FROM delta WHERE collection = ?1");
  if (!st) return st.error();
  st->bind(1, collection);
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<DeltaRow>();
  DeltaRow d;
  d.collection = collection;
  d.link = st->text(0);
  std::string mode = st->text(1);
  if (mode == "baseline")
    d.mode = DeltaRow::Mode::kBaseline;
  else if (mode == "incremental")
    d.mode = DeltaRow::Mode::kIncremental;
  else if (mode == "reconcile")
    d.mode = DeltaRow::Mode::kReconcile;
  else
    return Error::Corrupt(who_ + ": malformed delta row " + collection);
  d.round = st->int64(2);
  d.window = st->int64(3);
  return std::optional<DeltaRow>(d);
}

Result<void> State::save_delta(const DeltaRow& d) {
  auto st = db_.prepare(
      "INSERT INTO delta(collection, link, mode, round, window_start) VALUES(?1, ?2, ?3, ?4, ?5)"
      " ON CONFLICT(collection) DO UPDATE SET link = ?2, mode = ?3, round = ?4, window_start = ?5");
  if (!st) return st.error();
  return st->bind(1, d.collection)
      .bind(2, d.link)
      .bind(3, mode_text(d.mode))
      .bind(4, d.round)
      .bind(5, d.window)
      .run();
}

Result<std::int64_t> State::append(StoreEvent e) {
  auto l = log();
  CRMSYNC_TRY(l.append(e));
  return db_.last_insert_rowid();
}

}  // namespace crmsync::graph
