#include "mock_file.hpp"

#include <array>

#include "crmsync/store_mock/mock_mailbox.hpp"

namespace crmsync::store_mock {
namespace {

using sql::Database;
using sql::Transaction;
using Mode = Transaction::Kind;

// Arbitrary tag that marks a file as a mock mailbox ("CRMB").
constexpr std::int64_t kApplicationId = 0x43524D42;
constexpr std::string_view kTrackCategoryKey = "track_category";

// Migrations: entry i brings user_version i to i + 1. Never edit a shipped entry; append.
constexpr std::array<const char*, MockMailbox::kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE items (
  entry_id       TEXT PRIMARY KEY,
  kind           TEXT NOT NULL,
  folder         TEXT NOT NULL,
  change_key     TEXT NOT NULL,
  modified       INTEGER NOT NULL,      -- ms since the epoch, UTC
  tracked        INTEGER NOT NULL DEFAULT 0,
  crm_id         TEXT,                  -- lower-case GUID
  crm_id_pending INTEGER NOT NULL DEFAULT 0,
  crm_entity     TEXT,                  -- CRM logical name when not the kind's own
  fields         TEXT NOT NULL          -- typed JSON, see field_codec.hpp
);
CREATE INDEX items_kind_modified ON items(kind, modified DESC);
CREATE INDEX items_crm_id ON items(crm_id) WHERE crm_id IS NOT NULL;
CREATE TABLE events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT NOT NULL,
  entry_id      TEXT NOT NULL,
  action        TEXT NOT NULL,
  surface       TEXT NOT NULL,
  phase         TEXT NOT NULL,
  delete_in_crm INTEGER NOT NULL DEFAULT 0,
  at            INTEGER NOT NULL
);
-- SPEC §6: the primary lease (one row, compare-and-swap on version) and the handoff queue.
CREATE TABLE lease (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  holder  TEXT NOT NULL,
  epoch   INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  version TEXT NOT NULL
);
CREATE TABLE handoff_queue (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  client_id     TEXT NOT NULL,
  kind          TEXT NOT NULL,
  entry_id      TEXT NOT NULL,
  action        TEXT NOT NULL,
  delete_in_crm INTEGER NOT NULL DEFAULT 0,
  at            INTEGER NOT NULL
);
)sql",
    // 2: the items' categories (a JSON array of names, SPEC U1) and the file's settings (the
    // track category the daemon uses, so that every process reads category changes alike).
    R"sql(
ALTER TABLE items ADD COLUMN categories TEXT NOT NULL DEFAULT '[]';
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
};

Result<void> migrate(Database& db) {
  auto tx = Transaction::begin(db, Mode::kWrite);
  if (!tx) return tx.error();
  auto version = db.user_version();
  if (!version) return version.error();
  if (*version > MockMailbox::kSchemaVersion)
    return Error::Corrupt("mock mailbox schema version " + std::to_string(*version) +
                          " is newer than this build knows (" +
                          std::to_string(MockMailbox::kSchemaVersion) + ")");
  if (*version == 0) {
    auto objects = query_int(db, "SELECT count(*) FROM sqlite_master");
    if (!objects) return objects.error();
    if (*objects != 0) return Error::Corrupt("not a mock mailbox (a different SQLite database)");
    CRMSYNC_TRY(db.exec("PRAGMA application_id = " + std::to_string(kApplicationId)));
  }
  // The version was read under the write lock: another process may have migrated meanwhile.
  for (int from = static_cast<int>(*version); from < MockMailbox::kSchemaVersion; ++from)
    CRMSYNC_TRY(db.exec(kMigrations[static_cast<std::size_t>(from)]));
  CRMSYNC_TRY(db.set_user_version(MockMailbox::kSchemaVersion));
  return tx->commit();
}

}  // namespace

Result<std::int64_t> query_int(Database& db, std::string_view sql) {
  auto st = db.prepare(sql);
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  return *row ? st->int64(0) : std::int64_t{0};
}

Result<Database> open_file(const std::string& path) {
  auto db = Database::open(path);
  if (!db) return db.error().context("mock mailbox " + path);
  auto version = db->user_version();
  if (!version) return version.error().context("mock mailbox " + path);
  if (*version > MockMailbox::kSchemaVersion)
    return Error::Corrupt("mock mailbox " + path + ": schema version " + std::to_string(*version) +
                          " is newer than this build knows (" +
                          std::to_string(MockMailbox::kSchemaVersion) + ")");
  if (*version != 0) {
    auto app = query_int(*db, "PRAGMA application_id");
    if (!app) return app.error().context("mock mailbox " + path);
    if (*app != kApplicationId)
      return Error::Corrupt("mock mailbox " + path + ": not a mock mailbox (application_id)");
  }
  if (*version == 0) {
    auto objects = query_int(*db, "SELECT count(*) FROM sqlite_master");
    if (!objects) return objects.error().context("mock mailbox " + path);
    if (*objects != 0)
      return Error::Corrupt("mock mailbox " + path +
                            ": not a mock mailbox (a different SQLite database)");
  }
  // Ours (or new): only now may the file be written.
  if (auto r = db->use_wal(); !r) return r.error().context("mock mailbox " + path);
  if (*version < MockMailbox::kSchemaVersion) {
    if (auto r = migrate(*db); !r) return r.error().context("mock mailbox " + path);
  }
  return std::move(*db);
}

Result<TrackCategory> track_category(Database& db, const std::optional<TrackCategory>& track) {
  auto read = db.prepare("SELECT value FROM settings WHERE key = ?1");
  if (!read) return read.error();
  read->bind(1, kTrackCategoryKey);
  auto row = read->step();
  if (!row) return row.error();
  std::optional<std::string> recorded;
  if (*row) recorded = read->text(0);
  if (!track) {
    if (!recorded) return TrackCategory();
    auto checked = TrackCategory::from_config(*recorded);
    if (!checked) return Error::Corrupt("mock mailbox: " + checked.error().message());
    return std::move(*checked);
  }
  if (recorded != track->name()) {
    auto tx = Transaction::begin(db, Mode::kWrite);
    if (!tx) return tx.error();
    auto st = db.prepare("INSERT OR REPLACE INTO settings(key, value) VALUES (?1, ?2)");
    if (!st) return st.error();
    st->bind(1, kTrackCategoryKey).bind(2, std::string_view(track->name()));
    CRMSYNC_TRY(st->run());
    CRMSYNC_TRY(tx->commit());
  }
  return *track;
}

}  // namespace crmsync::store_mock
