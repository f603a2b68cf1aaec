#include "cache_decisions.hpp"

#include <algorithm>
#include <limits>

#include "cache_rows.hpp"
#include "crmsync/core/original_state.hpp"

namespace crmsync::cache_decisions {
namespace {

using sql::Database;
using sql::Statement;
using sql::Transaction;

// A value the cache keeps as a one-field original state (cache_rows.cpp).
Value read_value(const std::string& xml) {
  return cache_rows::read_one_value(xml);
}

// Runs one write of `sql` bound to `id` in its own transaction; whether it changed a row.
Result<bool> write_one(Database& db, const char* sql, std::int64_t id) {
  auto tx = Transaction::begin(db);
  if (!tx.ok()) return tx.error();
  auto s = db.prepare(sql);
  if (!s.ok()) return s.error();
  CRMSYNC_TRY(s->bind(1, id).run());
  const bool changed = db.changes() > 0;
  CRMSYNC_TRY(tx->commit());
  return changed;
}

}  // namespace

ConflictRecord read_conflict(const Statement& s) {
  ConflictRecord c;
  c.conflict_id = s.int64(0);
  c.map_id = MapId(s.int64(1));
  if (auto e = parse_crm_entity(s.text(2)); e.ok()) c.entity = *e;
  if (auto id = CrmId::parse(s.text(3)); id.ok()) c.crm_id = *id;
  c.entry_id = EntryId(s.text(4));
  c.field = s.text(5);
  c.store_value = read_value(s.text(6));
  c.crm_value = read_value(s.text(7));
  c.winner = s.text(8);
  c.at = UtcTime{s.int64(9)};
  if (!s.is_null(10)) c.base_value = read_value(s.text(10));
  return c;
}

Result<std::optional<ConflictRecord>> conflict(Database& db, std::int64_t id) {
  auto s = db.prepare("SELECT " CRMSYNC_CONFLICT_COLUMNS " FROM conflicts WHERE conflict_id = ?");
  if (!s.ok()) return s.error();
  s->bind(1, id);
  auto r = s->step();
  if (!r.ok()) return r.error();
  if (!*r) return std::optional<ConflictRecord>{};
  return std::optional<ConflictRecord>(read_conflict(*s));
}

Result<bool> drop_conflict(Database& db, std::int64_t id) {
  return write_one(db, "DELETE FROM conflicts WHERE conflict_id = ?", id);
}

Result<bool> retry_change_now(Database& db, MapId id) {
  return write_one(db, "UPDATE sync_changes SET next_attempt = 0 WHERE map_id = ?", id.value());
}

Result<bool> drop_change(Database& db, MapId id) {
  return write_one(db, "DELETE FROM sync_changes WHERE map_id = ?", id.value());
}

Result<std::vector<MapId>> pending_deletion_pairs(Database& db, Cache::Side side,
                                                  std::size_t limit) {
  auto s = db.prepare(std::string("SELECT c.map_id FROM sync_changes c JOIN id_mapping m ON "
                                  "m.map_id = c.map_id WHERE ") +
                      (side == Cache::Side::kStore ? kStoreSideDeletion : kCrmSideDeletion) +
                      " ORDER BY c.change_id LIMIT ?");
  if (!s.ok()) return s.error();
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  s->bind(1, static_cast<std::int64_t>(std::min(limit, kMax)));
  std::vector<MapId> out;
  for (;;) {
    auto r = s->step();
    if (!r.ok()) return r.error();
    if (!*r) return out;
    out.emplace_back(s->int64(0));
  }
}

}  // namespace crmsync::cache_decisions
