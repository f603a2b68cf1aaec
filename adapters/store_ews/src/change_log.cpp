#include "change_log.hpp"

#include <set>

#include "item_fields.hpp"

namespace crmsync::ews {
namespace {

// 1: events(seq, kind, entry_id, action, at_ms). 2: the mock mailbox's layout, so that an event
// carries its surface and delete-in-CRM (the user's intents and decisions, SPEC U1, U2).
constexpr int kStateVersion = 2;

}  // namespace

Result<sql::Database> ChangeLog::open_state(const std::string& path) {
  auto db = sql::Database::open(path);
  if (!db) return db.error();
  auto version = db->user_version();
  if (!version) return version.error();
  if (*version > kStateVersion)
    return Error::Corrupt("EWS state file " + path + " has version " + std::to_string(*version) +
                          ", newer than this binary's " + std::to_string(kStateVersion));
  CRMSYNC_TRY(db->use_wal());
  if (*version == kStateVersion) return db;
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return tx.error();
  if (*version == 1) {
    CRMSYNC_TRY(
        db->exec("ALTER TABLE events RENAME COLUMN at_ms TO at;"
                 "ALTER TABLE events ADD COLUMN surface TEXT NOT NULL DEFAULT 'none';"
                 "ALTER TABLE events ADD COLUMN phase TEXT NOT NULL DEFAULT 'none';"
                 "ALTER TABLE events ADD COLUMN delete_in_crm INTEGER NOT NULL DEFAULT 0;"));
  } else {
    CRMSYNC_TRY(db->exec(
        "CREATE TABLE IF NOT EXISTS sync_state(folder TEXT PRIMARY KEY, state TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS known(entry_id TEXT PRIMARY KEY, folder TEXT NOT NULL,"
        " change_key TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " kind TEXT NOT NULL, entry_id TEXT NOT NULL, action TEXT NOT NULL,"
        " surface TEXT NOT NULL DEFAULT 'none', phase TEXT NOT NULL DEFAULT 'none',"
        " delete_in_crm INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL);"));
  }
  CRMSYNC_TRY(db->set_user_version(kStateVersion));
  CRMSYNC_TRY(tx->commit());
  return db;
}

Result<void> ChangeLog::record(Folder folder, const ItemRef& ref, Action action) {
  auto tx = sql::Transaction::begin(db_);
  if (!tx) return tx.error();
  if (action == Action::kDelete)
    CRMSYNC_TRY(forget(ref.id));
  else
    CRMSYNC_TRY(upsert_known(folder, ref.id, ref.change_key));
  CRMSYNC_TRY(insert_event(kind_of_folder(folder), ref.id, action));
  return tx->commit();
}

Result<std::int64_t> ChangeLog::record_event(Folder folder, const ItemRef* written,
                                             StoreEvent event) {
  auto tx = sql::Transaction::begin(db_);
  if (!tx) return tx.error();
  if (written) CRMSYNC_TRY(upsert_known(folder, written->id, written->change_key));
  event.at = clock_.now();
  CRMSYNC_TRY(events().append(event));
  auto seq = events().last_seq();
  if (!seq) return seq.error();
  CRMSYNC_TRY(tx->commit());
  return *seq;
}

Result<void> ChangeLog::remember(Folder folder, const std::string& id,
                                 const std::string& change_key) {
  return upsert_known(folder, id, change_key);
}

Result<void> ChangeLog::upsert_known(Folder folder, const std::string& id,
                                     const std::string& change_key) {
  auto st = db_.prepare(
      "INSERT INTO known(entry_id, folder, change_key) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(entry_id) DO UPDATE SET folder = ?2, change_key = ?3");
  if (!st) return st.error();
  return st->bind(1, id).bind(2, to_string(folder)).bind(3, change_key).run();
}

Result<void> ChangeLog::forget(const std::string& id) {
  auto del = db_.prepare("DELETE FROM known WHERE entry_id = ?1");
  if (!del) return del.error();
  return del->bind(1, id).run();
}

Result<void> ChangeLog::insert_event(ItemKind kind, const std::string& id, Action action,
                                     Surface surface) {
  StoreEvent e;
  e.kind = kind;
  e.entry_id = EntryId(id);
  e.action = action;
  e.surface = surface;
  e.at = clock_.now();
  return events().append(e);
}

Result<std::int64_t> ChangeLog::last_seq() {
  return events().last_seq();
}

Result<std::vector<StoreEvent>> ChangeLog::after(std::int64_t after, std::size_t max) {
  return events().after(after, max);
}

sql::ChangeLog ChangeLog::events() {
  return sql::ChangeLog(db_, sql::ChangeLog::Layout::kFull, "EWS state file");
}

Result<void> ChangeLog::sync_all() {
  for (Folder f : kAllFolders)
    if (auto r = sync_folder(f); !r) return r.error().context("sync " + std::string(to_string(f)));
  return Ok();
}

Result<void> ChangeLog::sync_folder(Folder folder) {
  const std::string fname(to_string(folder));
  std::optional<std::string> stored;
  {
    auto st = db_.prepare("SELECT state FROM sync_state WHERE folder = ?1");
    if (!st) return st.error();
    st->bind(1, fname);
    auto row = st->step();
    if (!row) return row.error();
    if (*row) stored = st->text(0);
  }
  // No row: the first sync of this folder sets the baseline without events (the scan, S2,
  // covers what existed before). An empty state: the server refused ours; reconcile.
  Mode mode = !stored ? Mode::kBaseline : stored->empty() ? Mode::kReconcile : Mode::kIncremental;
  std::string state = stored.value_or("");
  std::set<std::string> seen;
  std::vector<Intent> intents;
  const std::string element(detail::element_of(kind_of_folder(folder)));
  const int page_size = caller_.config().page_size;
  for (int round = 0; round < 100'000; ++round) {
    auto msgs = caller_.call("SyncFolderItems", sync_folder_items(folder, state, page_size), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) {
      if (m.code == "ErrorInvalidSyncStateData" && !state.empty()) {
        // Full resync, compared with what we know: no duplicate events for unchanged items.
        auto st = db_.prepare(
            "INSERT INTO sync_state(folder, state) VALUES(?1, '') "
            "ON CONFLICT(folder) DO UPDATE SET state = ''");
        if (!st) return st.error();
        CRMSYNC_TRY(st->bind(1, fname).run());
        mode = Mode::kReconcile;
        state.clear();
        seen.clear();
        continue;
      }
      return error_of(m);
    }
    auto page = sync_page_of(m);
    if (!page) return page.error();
    auto tx = sql::Transaction::begin(db_);
    if (!tx) return tx.error();
    for (const auto& ch : page->changes) {
      using T = SyncChange::Type;
      const std::string& id = ch.item.ref.id;
      if (ch.type == T::kReadFlag) continue;
      auto known = known_change_key(id);
      if (!known) return known.error();
      if (ch.type == T::kDelete) {
        if (!*known) continue;  // never known (or our own delete): nothing to report
        CRMSYNC_TRY(forget(id));
        CRMSYNC_TRY(insert_event(kind_of_folder(folder), id, Action::kDelete));
        continue;
      }
      if (ch.item.element != element || ch.item.item_class.rfind("IPM.Configuration", 0) == 0)
        continue;
      seen.insert(id);
      if (*known && **known == ch.item.ref.change_key) continue;  // our own write, or unchanged
      CRMSYNC_TRY(upsert_known(folder, id, ch.item.ref.change_key));
      if (mode == Mode::kBaseline) continue;
      CategoryMark mark = category_mark_of(ch.item);
      if (auto intent = category_intent(track_, mark)) {
        // The user's track or untrack from another client (U1): the explorer's, as the
        // category is the list view's "Track in CRM"; the mark follows once committed.
        CRMSYNC_TRY(insert_event(kind_of_folder(folder), id, *intent, Surface::kExplorer));
        intents.push_back({folder, ch.item.ref, *intent == Action::kTrack, std::move(mark)});
        continue;
      }
      CRMSYNC_TRY(
          insert_event(kind_of_folder(folder), id,
                       *known || ch.type == T::kUpdate ? Action::kUpdate : Action::kCreate));
    }
    state = page->sync_state;
    const bool done = page->last;
    if (mode == Mode::kReconcile && done) {
      // What we knew in this folder and the server no longer lists: deleted meanwhile.
      auto st = db_.prepare("SELECT entry_id FROM known WHERE folder = ?1");
      if (!st) return st.error();
      st->bind(1, fname);
      std::vector<std::string> gone;
      for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        if (!seen.count(st->text(0))) gone.push_back(st->text(0));
      }
      for (const auto& id : gone) {
        CRMSYNC_TRY(forget(id));
        CRMSYNC_TRY(insert_event(kind_of_folder(folder), id, Action::kDelete));
      }
    }
    // Reconcile keeps the old (empty) state until its last page: a crash restarts it.
    if (mode != Mode::kReconcile || done) {
      auto st = db_.prepare(
          "INSERT INTO sync_state(folder, state) VALUES(?1, ?2) "
          "ON CONFLICT(folder) DO UPDATE SET state = ?2");
      if (!st) return st.error();
      CRMSYNC_TRY(st->bind(1, fname).bind(2, state).run());
    }
    CRMSYNC_TRY(tx->commit());
    apply(intents);
    intents.clear();
    if (done) return Ok();
  }
  return Error::Internal("SyncFolderItems never reached the last page");
}

Result<std::optional<std::string>> ChangeLog::known_change_key(const std::string& id) {
  auto st = db_.prepare("SELECT change_key FROM known WHERE entry_id = ?1");
  if (!st) return st.error();
  st->bind(1, id);
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->text(0));
}

// Best effort: the event is logged already. A write that fails (the user changed the item
// again: kConflict) is left to the next pass, which sees that change and its intent again.
void ChangeLog::apply(const std::vector<Intent>& intents) {
  for (const Intent& i : intents) {
    const ItemKind kind = kind_of_folder(i.folder);
    auto body = update_mark(kind, i.ref, i.tracked, keep_in_step(track_, i.mark, i.tracked));
    if (!body) continue;
    auto msgs = caller_.call("UpdateItem", *body, true);
    if (!msgs || !msgs->front().ok()) continue;
    auto updated = one_item_in(msgs->front(), "UpdateItem");
    if (updated && !updated->ref.change_key.empty())
      (void)remember(i.folder, i.ref.id, updated->ref.change_key);
  }
}

}  // namespace crmsync::ews
