#include "cache_rows.hpp"

#include "crmsync/core/original_state.hpp"

namespace crmsync::cache_rows {

using sql::Statement;

const std::array<const char*, Cache::kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE id_mapping (
  map_id           INTEGER PRIMARY KEY,
  crm_id           TEXT NOT NULL UNIQUE,
  entry_id         TEXT UNIQUE CHECK (entry_id IS NULL OR length(entry_id) <= 400),
  object_type      TEXT NOT NULL,
  linked           INTEGER NOT NULL DEFAULT 0,
  deleted_locally  INTEGER NOT NULL DEFAULT 0,
  visited          INTEGER NOT NULL DEFAULT 0,
  manually_tracked INTEGER NOT NULL DEFAULT 0,
  create_pending   INTEGER NOT NULL DEFAULT 0,
  verified_time    INTEGER NOT NULL DEFAULT 0,
  original_state   TEXT,
  store_change_key TEXT NOT NULL DEFAULT '',
  owner_id         TEXT,
  crm_state        INTEGER
);
CREATE INDEX id_mapping_verified ON id_mapping(linked, verified_time);
CREATE TABLE sync_changes (
  change_id       INTEGER PRIMARY KEY,
  map_id          INTEGER NOT NULL UNIQUE REFERENCES id_mapping(map_id) ON DELETE CASCADE,
  store_change    TEXT NOT NULL DEFAULT 'none',
  store_timestamp INTEGER NOT NULL DEFAULT 0,
  store_surface   TEXT NOT NULL DEFAULT 'none',
  crm_change      TEXT NOT NULL DEFAULT 'none',
  crm_timestamp   INTEGER NOT NULL DEFAULT 0,
  crm_record      TEXT,
  crm_owner       TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt    INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  held            INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE conflicts (
  conflict_id INTEGER PRIMARY KEY,
  map_id      INTEGER NOT NULL,
  object_type TEXT NOT NULL,
  crm_id      TEXT NOT NULL,
  entry_id    TEXT NOT NULL,
  field       TEXT NOT NULL,
  store_value TEXT NOT NULL,
  crm_value   TEXT NOT NULL,
  winner      TEXT NOT NULL,
  at          INTEGER NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
    // 2: the row version the CRM record of a change row was read with (SPEC U6).
    R"sql(
ALTER TABLE sync_changes ADD COLUMN crm_row_version TEXT;
)sql",
    // 3: a conflict's base value, shown beside both sides when the user settles it (U2).
    R"sql(
ALTER TABLE conflicts ADD COLUMN base_value TEXT;
)sql",
};

constexpr std::array<std::pair<StoreChange, std::string_view>, 6> kStoreChanges{{
    {StoreChange::kNone, "none"},
    {StoreChange::kCreate, "create"},
    {StoreChange::kUpdate, "update"},
    {StoreChange::kDelete, "delete"},
    {StoreChange::kUntrack, "untrack"},
    {StoreChange::kUntrackDeleteInCrm, "untrack-delete-in-crm"},
}};
constexpr std::array<std::pair<CrmChange, std::string_view>, 4> kCrmChanges{{
    {CrmChange::kNone, "none"},
    {CrmChange::kUpsert, "upsert"},
    {CrmChange::kDelete, "delete"},
    {CrmChange::kLeftFilter, "left-filter"},
}};

template <class E, std::size_t N>
Result<E> from_name(const std::array<std::pair<E, std::string_view>, N>& t, std::string_view s) {
  for (auto& [v, n] : t)
    if (n == s) return v;
  return Error::Corrupt("cache: unknown value '" + std::string(s) + "'");
}

std::string one_value(const Value& v) {
  return serialize_fields(FieldMap{{"v", v}});
}
Value read_one_value(const std::string& xml) {
  auto f = parse_fields(xml);
  if (!f.ok()) return Value{std::string("<unreadable>")};
  auto it = f->find("v");
  return it == f->end() ? Value{} : it->second;
}

Result<Mapping> read_mapping(const Statement& s, int c0) {
  Mapping m;
  m.map_id = MapId(s.int64(c0));
  auto crm = CrmId::parse(s.text(c0 + 1));
  if (!crm.ok()) return Error::Corrupt("cache: bad crm_id in id_mapping");
  m.crm_id = *crm;
  if (!s.is_null(c0 + 2)) m.entry_id = EntryId(s.text(c0 + 2));
  auto e = parse_crm_entity(s.text(c0 + 3));
  if (!e.ok()) return Error::Corrupt("cache: bad object_type in id_mapping");
  m.entity = *e;
  m.linked = s.int64(c0 + 4) != 0;
  m.deleted_locally = s.int64(c0 + 5) != 0;
  m.visited = s.int64(c0 + 6) != 0;
  m.manually_tracked = s.int64(c0 + 7) != 0;
  m.create_pending = s.int64(c0 + 8) != 0;
  m.verified_time = UtcTime{s.int64(c0 + 9)};
  if (!s.is_null(c0 + 10)) {
    auto o = parse_fields(s.text(c0 + 10));
    if (!o.ok())
      return o.error().context("cache: original state of map " + std::to_string(m.map_id.value()));
    m.original = std::move(*o);
  }
  m.store_change_key = s.text(c0 + 11);
  if (!s.is_null(c0 + 12)) {
    auto o = CrmId::parse(s.text(c0 + 12));
    if (o.ok()) m.owner = *o;
  }
  if (!s.is_null(c0 + 13)) m.crm_state = s.int64(c0 + 13);
  return m;
}

void bind_mapping(Statement& s, const Mapping& m, int first) {
  s.bind(first, m.crm_id.str());
  if (m.entry_id.empty())
    s.bind_null(first + 1);
  else
    s.bind(first + 1, m.entry_id.str());
  s.bind(first + 2, to_string(m.entity));
  s.bind(first + 3, std::int64_t{m.linked});
  s.bind(first + 4, std::int64_t{m.deleted_locally});
  s.bind(first + 5, std::int64_t{m.visited});
  s.bind(first + 6, std::int64_t{m.manually_tracked});
  s.bind(first + 7, std::int64_t{m.create_pending});
  s.bind(first + 8, m.verified_time.ms);
  if (m.original)
    s.bind(first + 9, serialize_fields(*m.original));
  else
    s.bind_null(first + 9);
  s.bind(first + 10, m.store_change_key);
  if (m.owner)
    s.bind(first + 11, m.owner->str());
  else
    s.bind_null(first + 11);
  if (m.crm_state)
    s.bind(first + 12, *m.crm_state);
  else
    s.bind_null(first + 12);
}

Result<PendingChange> read_change(const Statement& s) {
  PendingChange c;
  c.change_id = s.int64(0);
  c.map_id = MapId(s.int64(1));
  auto sc = from_name(kStoreChanges, s.text(2));
  auto cc = from_name(kCrmChanges, s.text(5));
  auto surface = parse_surface(s.text(4));
  if (!sc.ok() || !cc.ok() || !surface.ok()) {
    return Error::Corrupt("cache: bad change row " + std::to_string(c.change_id));
  }
  c.store_change = *sc;
  c.store_timestamp = UtcTime{s.int64(3)};
  c.surface = *surface;
  c.crm_change = *cc;
  c.crm_timestamp = UtcTime{s.int64(6)};
  if (!s.is_null(7)) {
    auto attrs = parse_fields(s.text(7));
    auto entity = parse_crm_entity(s.text(13));
    auto id = CrmId::parse(s.text(14));
    if (!attrs.ok() || !entity.ok() || !id.ok()) {
      return Error::Corrupt("cache: unreadable CRM record in change " +
                            std::to_string(c.change_id));
    }
    CrmRecord rec;
    rec.entity = *entity;
    rec.id = *id;
    rec.attributes = std::move(*attrs);
    rec.modified_on = c.crm_timestamp;
    if (!s.is_null(8))
      if (auto o = CrmId::parse(s.text(8)); o.ok()) rec.owner = *o;
    if (!s.is_null(15)) rec.row_version = s.text(15);
    c.crm_record = std::move(rec);
  }
  c.attempts = static_cast<int>(s.int64(9));
  c.next_attempt = UtcTime{s.int64(10)};
  c.last_error = s.text(11);
  c.held = s.int64(12) != 0;
  return c;
}

std::string_view name_of(StoreChange c) {
  for (auto& [v, n] : kStoreChanges)
    if (v == c) return n;
  return "?";
}

std::string_view name_of(CrmChange c) {
  for (auto& [v, n] : kCrmChanges)
    if (v == c) return n;
  return "?";
}

}  // namespace crmsync::cache_rows
