#include "crmsync/core/cache.hpp"

#include "cache_decisions.hpp"
#include "cache_rows.hpp"
#include "crmsync/core/original_state.hpp"
#include "crmsync/core/sqlite.hpp"

namespace crmsync {
namespace {

using cache_rows::bind_mapping;
using cache_rows::one_value;
using cache_rows::read_change;
using cache_rows::read_mapping;
using cache_rows::read_one_value;

using sql::Database;
using sql::Statement;
using sql::Transaction;

// A field's value in the pair's original state (U2: a conflict's base, shown beside both sides).
Value base_of(const Mapping& m, const std::string& field) {
  if (!m.original) return Value{};
  auto it = m.original->find(field);
  return it == m.original->end() ? Value{} : it->second;
}

class SqliteCache final : public Cache {
 public:
  explicit SqliteCache(Database db) : db_(std::move(db)) {}

  Result<std::optional<Mapping>> mapping(MapId id) override {
    auto s = db_.cached(CRMSYNC_SELECT_MAPPING " WHERE map_id=?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, id.value());
    return one_mapping(**s);
  }
  Result<std::optional<Mapping>> mapping_by_crm_id(const CrmId& id) override {
    auto s = db_.cached(CRMSYNC_SELECT_MAPPING " WHERE crm_id=?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, id.str());
    return one_mapping(**s);
  }
  Result<std::optional<Mapping>> mapping_by_entry_id(const EntryId& id) override {
    auto s = db_.cached(CRMSYNC_SELECT_MAPPING " WHERE entry_id=?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, id.str());
    return one_mapping(**s);
  }

  Result<std::optional<std::string>> store_change_key_of(const EntryId& id) override {
    auto s = db_.cached("SELECT store_change_key FROM id_mapping WHERE entry_id=?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, id.str());
    auto r = (*s)->step();
    std::optional<std::string> out;
    if (r.ok() && *r) out = (*s)->text(0);
    (*s)->reset();
    if (!r.ok()) return r.error();
    return out;
  }

  Result<MapId> insert_mapping(const Mapping& m, const std::optional<ChangeNote>& change) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    auto s = db_.cached(
        "INSERT INTO id_mapping(crm_id, entry_id, object_type, linked, deleted_locally, visited, "
        "manually_tracked, create_pending, verified_time, original_state, store_change_key, "
        "owner_id, crm_state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!s.ok()) return s.error();
    bind_mapping(**s, m, 1);
    CRMSYNC_TRY((*s)->run());
    MapId id(db_.last_insert_rowid());
    if (change) CRMSYNC_TRY(merge_change(id, *change));
    CRMSYNC_TRY(tx->commit());
    return id;
  }

  Result<void> save_mapping(const Mapping& m) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    CRMSYNC_TRY(update_mapping(m));
    return tx->commit();
  }

  Result<void> note_change(MapId id, const ChangeNote& change) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    CRMSYNC_TRY(merge_change(id, change));
    return tx->commit();
  }

  Result<void> commit_applied(const Mapping& m, std::int64_t change_id,
                              const std::vector<ConflictRecord>& conflicts) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    CRMSYNC_TRY(update_mapping(m));
    if (change_id != 0) {
      auto s = db_.cached("DELETE FROM sync_changes WHERE change_id=?");
      if (!s.ok()) return s.error();
      CRMSYNC_TRY((*s)->bind(1, change_id).run());
    }
    for (const auto& c : conflicts) {
      // A merge replayed after a crash records the same conflict once.
      auto s = db_.cached(
          "INSERT INTO conflicts(map_id, object_type, crm_id, entry_id, field, store_value, "
          "crm_value, winner, at, base_value) SELECT ?1,?2,?3,?4,?5,?6,?7,?8,?9,?10 WHERE NOT "
          "EXISTS (SELECT 1 FROM conflicts WHERE map_id=?1 AND field=?5 AND store_value IS ?6 "
          "AND crm_value IS ?7 AND winner=?8)");
      if (!s.ok()) return s.error();
      (*s)->bind(1, m.map_id.value())
          .bind(2, to_string(m.entity))
          .bind(3, m.crm_id.str())
          .bind(4, m.entry_id.str())
          .bind(5, c.field)
          .bind(6, one_value(c.store_value))
          .bind(7, one_value(c.crm_value))
          .bind(8, c.winner)
          .bind(9, c.at.ms)
          .bind(10, one_value(base_of(m, c.field)));
      CRMSYNC_TRY((*s)->run());
    }
    return tx->commit();
  }

  Result<void> forget_mapping(MapId id) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    auto s = db_.cached("DELETE FROM id_mapping WHERE map_id=?");  // cascades to sync_changes
    if (!s.ok()) return s.error();
    CRMSYNC_TRY((*s)->bind(1, id.value()).run());
    return tx->commit();
  }

  Result<std::vector<PendingChange>> pending_changes(std::int64_t after,
                                                     std::size_t limit) override {
    auto s = db_.cached("SELECT " CRMSYNC_CHANGE_COLUMNS
                        " FROM sync_changes c WHERE change_id > ? ORDER BY change_id LIMIT ?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, after).bind(2, static_cast<std::int64_t>(limit));
    return read_changes(**s);
  }

  Result<std::optional<PendingChange>> pending_change_of(MapId id) override {
    auto s = db_.cached("SELECT " CRMSYNC_CHANGE_COLUMNS " FROM sync_changes c WHERE map_id = ?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, id.value());
    auto rows = read_changes(**s);
    if (!rows.ok()) return rows.error();
    if (rows->empty()) return std::optional<PendingChange>{};
    return std::optional<PendingChange>{std::move(rows->front())};
  }

  Result<void> record_failure(std::int64_t change_id, const std::string& reason,
                              UtcTime next_attempt) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    auto s = db_.cached(
        "UPDATE sync_changes SET attempts = attempts + 1, last_error = ?, next_attempt = ? "
        "WHERE change_id = ?");
    if (!s.ok()) return s.error();
    CRMSYNC_TRY((*s)->bind(1, reason).bind(2, next_attempt.ms).bind(3, change_id).run());
    return tx->commit();
  }

  Result<void> set_held(std::int64_t change_id, bool held) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    auto s = db_.cached("UPDATE sync_changes SET held = ? WHERE change_id = ?");
    if (!s.ok()) return s.error();
    CRMSYNC_TRY((*s)->bind(1, std::int64_t{held}).bind(2, change_id).run());
    return tx->commit();
  }

  // D10's two kinds of deletion (shared with cache_decisions.cpp).
  static constexpr const char* kStoreSideDeletion = cache_decisions::kStoreSideDeletion;
  static constexpr const char* kCrmSideDeletion = cache_decisions::kCrmSideDeletion;

  Result<DeletionCounts> pending_deletions() override {
    auto s = db_.prepare(std::string("SELECT SUM(CASE WHEN ") + kStoreSideDeletion +
                         " THEN 1 ELSE 0 END), SUM(CASE WHEN " + kCrmSideDeletion +
                         " THEN 1 ELSE 0 END) FROM sync_changes c JOIN id_mapping m "
                         "ON m.map_id = c.map_id");
    if (!s.ok()) return s.error();
    auto r = s->step();
    if (!r.ok()) return r.error();
    return DeletionCounts{s->int64(0), s->int64(1)};
  }

  Result<void> hold_deletions(Side side, bool held) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    auto s = db_.prepare(
        std::string("UPDATE sync_changes SET held = ? WHERE change_id IN (SELECT c.change_id "
                    "FROM sync_changes c JOIN id_mapping m ON m.map_id = c.map_id WHERE ") +
        (side == Side::kStore ? kStoreSideDeletion : kCrmSideDeletion) + ")");
    if (!s.ok()) return s.error();
    CRMSYNC_TRY(s->bind(1, std::int64_t{held}).run());
    return tx->commit();
  }

  Result<std::int64_t> linked_count() override {
    auto s = db_.cached("SELECT COUNT(*) FROM id_mapping WHERE linked = 1");
    if (!s.ok()) return s.error();
    auto r = (*s)->step();
    if (!r.ok()) return r.error();
    std::int64_t n = (*s)->int64(0);
    (*s)->reset();
    return n;
  }

  Result<std::optional<std::string>> get_meta(const std::string& key) override {
    auto s = db_.cached("SELECT value FROM meta WHERE key = ?");
    if (!s.ok()) return s.error();
    (*s)->bind(1, key);
    auto r = (*s)->step();
    if (!r.ok()) return r.error();
    std::optional<std::string> out;
    if (*r) out = (*s)->text(0);
    (*s)->reset();
    return out;
  }

  Result<void> set_meta(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& values) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    for (const auto& [key, value] : values) {
      auto s = value ? db_.cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)")
                     : db_.cached("DELETE FROM meta WHERE key = ?");
      if (!s.ok()) return s.error();
      (*s)->bind(1, key);
      if (value) (*s)->bind(2, *value);
      CRMSYNC_TRY((*s)->run());
    }
    return tx->commit();
  }

  Result<std::vector<Mapping>> oldest_verified(std::size_t limit) override {
    auto s = db_.prepare(CRMSYNC_SELECT_MAPPING
                         " WHERE linked = 1 AND entry_id IS NOT NULL "
                         "ORDER BY verified_time, map_id LIMIT ?");
    if (!s.ok()) return s.error();
    s->bind(1, static_cast<std::int64_t>(limit));
    return read_mappings(*s);
  }

  Result<void> set_verified(MapId id, UtcTime at) override {
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    auto s = db_.cached("UPDATE id_mapping SET verified_time = ? WHERE map_id = ?");
    if (!s.ok()) return s.error();
    CRMSYNC_TRY((*s)->bind(1, at.ms).bind(2, id.value()).run());
    return tx->commit();
  }

  Result<std::vector<Mapping>> mappings(std::optional<CrmEntity> entity) override {
    auto s =
        db_.prepare(CRMSYNC_SELECT_MAPPING " WHERE ?1 IS NULL OR object_type = ?1 ORDER BY map_id");
    if (!s.ok()) return s.error();
    if (entity)
      s->bind(1, to_string(*entity));
    else
      s->bind_null(1);
    return read_mappings(*s);
  }

  Result<std::vector<ConflictRecord>> conflicts(std::size_t limit) override {
    auto s = db_.prepare("SELECT " CRMSYNC_CONFLICT_COLUMNS
                         " FROM conflicts ORDER BY conflict_id DESC LIMIT ?");
    if (!s.ok()) return s.error();
    s->bind(1, static_cast<std::int64_t>(limit));
    std::vector<ConflictRecord> out;
    for (;;) {
      auto r = s->step();
      if (!r.ok()) return r.error();
      if (!*r) break;
      out.push_back(cache_decisions::read_conflict(*s));
    }
    return out;
  }

  // U2 (cache_decisions.cpp).
  Result<std::optional<ConflictRecord>> conflict(std::int64_t id) override {
    return cache_decisions::conflict(db_, id);
  }
  Result<bool> drop_conflict(std::int64_t id) override {
    return cache_decisions::drop_conflict(db_, id);
  }
  Result<bool> retry_change_now(MapId id) override {
    return cache_decisions::retry_change_now(db_, id);
  }
  Result<bool> drop_change(MapId id) override { return cache_decisions::drop_change(db_, id); }
  Result<std::vector<MapId>> pending_deletion_pairs(Side side, std::size_t limit) override {
    return cache_decisions::pending_deletion_pairs(db_, side, limit);
  }

  Result<std::vector<ItemError>> errors(std::size_t limit) override {
    auto s = db_.prepare(
        "SELECT m.map_id, m.object_type, m.crm_id, m.entry_id, c.last_error, c.attempts, "
        "c.next_attempt FROM sync_changes c JOIN id_mapping m ON m.map_id = c.map_id "
        "WHERE c.last_error <> '' ORDER BY c.change_id LIMIT ?");
    if (!s.ok()) return s.error();
    s->bind(1, static_cast<std::int64_t>(limit));
    std::vector<ItemError> out;
    for (;;) {
      auto r = s->step();
      if (!r.ok()) return r.error();
      if (!*r) break;
      ItemError e;
      e.map_id = MapId(s->int64(0));
      if (auto k = parse_crm_entity(s->text(1)); k.ok()) e.entity = *k;
      if (auto id = CrmId::parse(s->text(2)); id.ok()) e.crm_id = *id;
      e.entry_id = EntryId(s->text(3));
      e.error = s->text(4);
      e.attempts = static_cast<int>(s->int64(5));
      e.next_attempt = UtcTime{s->int64(6)};
      out.push_back(std::move(e));
    }
    return out;
  }

  Result<std::vector<std::pair<CrmEntity, EntityCounts>>> counts() override {
    auto s = db_.prepare(
        "SELECT m.object_type, SUM(m.linked), COUNT(c.change_id), "
        "SUM(CASE WHEN c.last_error <> '' THEN 1 ELSE 0 END), SUM(COALESCE(c.held, 0)) "
        "FROM id_mapping m LEFT JOIN sync_changes c ON c.map_id = m.map_id "
        "GROUP BY m.object_type");
    if (!s.ok()) return s.error();
    std::vector<std::pair<CrmEntity, EntityCounts>> out;
    for (CrmEntity e : kAllCrmEntities) out.emplace_back(e, EntityCounts{});
    for (;;) {
      auto r = s->step();
      if (!r.ok()) return r.error();
      if (!*r) break;
      auto e = parse_crm_entity(s->text(0));
      if (!e.ok()) continue;
      for (auto& [entity, c] : out)
        if (entity == *e) c = EntityCounts{s->int64(1), s->int64(2), s->int64(3), s->int64(4)};
    }
    return out;
  }

  Result<std::int64_t> conflict_count() override {
    auto s = db_.prepare("SELECT COUNT(*) FROM conflicts");
    if (!s.ok()) return s.error();
    auto r = s->step();
    if (!r.ok()) return r.error();
    return s->int64(0);
  }

  Result<std::string> integrity_check() override { return db_.integrity_check(); }

  Result<void> begin_batch() override {
    if (batch_) return Error::Internal("cache: a batch is already open");
    auto tx = Transaction::begin(db_);
    if (!tx.ok()) return tx.error();
    batch_.emplace(std::move(*tx));
    return Ok();
  }
  Result<void> commit_batch() override {
    if (!batch_) return Ok();
    auto r = batch_->commit();
    batch_.reset();
    return r;
  }
  void rollback_batch() override { batch_.reset(); }
  bool in_batch() const override { return batch_.has_value(); }

  Result<void> migrate() {
    auto v = db_.user_version();
    if (!v.ok()) return v.error();
    if (*v > kSchemaVersion)
      return Error::Corrupt("the cache has schema version " + std::to_string(*v) +
                            ", newer than this crmsync knows (" + std::to_string(kSchemaVersion) +
                            "); it was left untouched: use a newer crmsync");
    CRMSYNC_TRY(db_.use_wal());
    for (int from = *v; from < kSchemaVersion; ++from) {
      auto tx = Transaction::begin(db_);
      if (!tx.ok()) return tx.error();
      // Re-read inside the write lock: another process may have migrated meanwhile.
      auto now = db_.user_version();
      if (!now.ok()) return now.error();
      if (*now > from) continue;
      CRMSYNC_TRY(db_.exec(cache_rows::kMigrations[static_cast<std::size_t>(from)]));
      CRMSYNC_TRY(db_.set_user_version(from + 1));
      CRMSYNC_TRY(tx->commit());
    }
    return Ok();
  }

 private:
  // Reads at most one row of a bound cached statement, and resets it.
  static Result<std::optional<Mapping>> one_mapping(Statement& s) {
    auto r = s.step();
    if (!r.ok()) {
      s.reset();
      return r.error();
    }
    std::optional<Mapping> out;
    if (*r) {
      auto m = read_mapping(s);
      if (!m.ok()) {
        s.reset();
        return m.error();
      }
      out = std::move(*m);
    }
    s.reset();
    return out;
  }

  Result<std::vector<Mapping>> read_mappings(Statement& s) {
    std::vector<Mapping> out;
    for (;;) {
      auto r = s.step();
      if (!r.ok()) return r.error();
      if (!*r) break;
      auto m = read_mapping(s);
      if (!m.ok()) return m.error();
      out.push_back(std::move(*m));
    }
    return out;
  }

  Result<std::vector<PendingChange>> read_changes(Statement& s) {
    std::vector<PendingChange> out;
    for (;;) {
      auto r = s.step();
      if (!r.ok()) {
        s.reset();
        return r.error();
      }
      if (!*r) break;
      auto c = read_change(s);
      if (!c.ok()) {
        s.reset();
        return c.error();
      }
      out.push_back(std::move(*c));
    }
    s.reset();
    return out;
  }

  Result<void> update_mapping(const Mapping& m) {
    auto s = db_.cached(
        "UPDATE id_mapping SET crm_id=?, entry_id=?, object_type=?, linked=?, deleted_locally=?, "
        "visited=?, manually_tracked=?, create_pending=?, verified_time=?, original_state=?, "
        "store_change_key=?, owner_id=?, crm_state=? WHERE map_id=?");
    if (!s.ok()) return s.error();
    bind_mapping(**s, m, 1);
    (*s)->bind(14, m.map_id.value());
    CRMSYNC_TRY((*s)->run());
    if (db_.changes() != 1)
      return Error::NotFound("cache: no mapping " + std::to_string(m.map_id.value()));
    return Ok();
  }

  // Upserts the one change row of a mapping. A new side replaces the old value of that
  // side; a change that succeeds a failure starts its backoff afresh.
  Result<void> merge_change(MapId id, const ChangeNote& c) {
    auto s = db_.cached(
        "INSERT INTO sync_changes(map_id, store_change, store_timestamp, store_surface, "
        "crm_change, crm_timestamp, crm_record, crm_owner, crm_row_version) VALUES (?1, "
        "coalesce(?2, 'none'), coalesce(?3, 0), coalesce(?4, 'none'), coalesce(?5, 'none'), "
        "coalesce(?6, 0), ?7, ?8, ?9) "
        "ON CONFLICT(map_id) DO UPDATE SET "
        "store_change = coalesce(?2, store_change), "
        "store_timestamp = coalesce(?3, store_timestamp), "
        "store_surface = coalesce(?4, store_surface), "
        "crm_change = coalesce(?5, crm_change), "
        "crm_timestamp = coalesce(?6, crm_timestamp), "
        "crm_record = CASE WHEN ?5 IS NULL THEN crm_record ELSE ?7 END, "
        "crm_owner = CASE WHEN ?5 IS NULL THEN crm_owner ELSE ?8 END, "
        "crm_row_version = CASE WHEN ?5 IS NULL THEN crm_row_version ELSE ?9 END, "
        "next_attempt = 0, held = 0");
    if (!s.ok()) return s.error();
    Statement& st = **s;
    st.bind(1, id.value());
    if (c.store) {
      st.bind(2, std::string(to_string(*c.store)));
      st.bind(3, c.store_timestamp.ms);
      st.bind(4, std::string(to_string(c.surface)));
    }
    if (c.crm) {
      st.bind(5, std::string(to_string(*c.crm)));
      st.bind(6, c.crm_timestamp.ms);
      if (c.crm_record) {
        st.bind(7, serialize_fields(c.crm_record->attributes));
        if (c.crm_record->owner) st.bind(8, c.crm_record->owner->str());
        if (!c.crm_record->row_version.empty()) st.bind(9, c.crm_record->row_version);
      }
    }
    return st.run();
  }

  Database db_;
  std::optional<Transaction> batch_;  // declared after db_: rolled back before it closes
};

}  // namespace

std::string_view to_string(StoreChange c) {
  return cache_rows::name_of(c);
}
std::string_view to_string(CrmChange c) {
  return cache_rows::name_of(c);
}

Result<std::unique_ptr<Cache>> Cache::open(const std::string& path) {
  auto db = Database::open(path);
  if (!db.ok()) return db.error();
  auto cache = std::make_unique<SqliteCache>(std::move(*db));
  CRMSYNC_TRY(cache->migrate());
  return std::unique_ptr<Cache>(std::move(cache));
}

}  // namespace crmsync
