#include "crmsync/core/change_log.hpp"

#include <algorithm>
#include <limits>

namespace crmsync::sql {

namespace {
// Literals: Database::cached keys on the SQL's address.
constexpr const char* kInsertFull =
    "INSERT INTO events (kind, entry_id, action, surface, phase,"
    " delete_in_crm, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kInsertActionOnly =
    "INSERT INTO events(kind, entry_id, action, at_ms) VALUES(?1, ?2, ?3, ?4)";
constexpr const char* kSelectFull =
    "SELECT seq, kind, entry_id, action, surface, phase, delete_in_crm, at FROM events"
    " WHERE seq > ?1 ORDER BY seq LIMIT ?2";
constexpr const char* kSelectActionOnly =
    "SELECT seq, kind, entry_id, action, 'none', 'none', 0, at_ms FROM events"
    " WHERE seq > ?1 ORDER BY seq LIMIT ?2";
constexpr const char* kMaxSeq = "SELECT coalesce(max(seq), 0) FROM events";
}  // namespace

Result<void> ChangeLog::append(const StoreEvent& e) {
  const bool full = layout_ == Layout::kFull;
  auto cached = db_.cached(full ? kInsertFull : kInsertActionOnly);
  if (!cached) return cached.error();
  Statement* st = *cached;
  ResetOnExit done(*st);
  st->bind(1, to_string(e.kind)).bind(2, std::string_view(e.entry_id.str()));
  st->bind(3, to_string(e.action));
  if (full)
    st->bind(4, to_string(e.surface))
        .bind(5, to_string(e.phase))
        .bind(6, std::int64_t{e.delete_in_crm})
        .bind(7, e.at.ms);
  else
    st->bind(4, e.at.ms);
  return st->run();
}

Result<std::vector<StoreEvent>> ChangeLog::after(std::int64_t after, std::size_t max) {
  // Polled several times a second by an idle daemon: a cached statement.
  auto cached = db_.cached(layout_ == Layout::kFull ? kSelectFull : kSelectActionOnly);
  if (!cached) return cached.error();
  Statement* st = *cached;
  ResetOnExit done(*st);
  const auto limit = static_cast<std::int64_t>(
      std::min<std::size_t>(max, std::numeric_limits<std::int64_t>::max()));
  st->bind(1, after).bind(2, limit);
  std::vector<StoreEvent> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    StoreEvent e;
    e.seq = st->int64(0);
    auto kind = parse_item_kind(st->text(1));
    auto action = parse_action(st->text(3));
    auto surface = parse_surface(st->text(4));
    auto phase = parse_phase(st->text(5));
    if (!kind || !action || !surface || !phase)
      return Error::Corrupt(who_ + ": malformed event " + std::to_string(e.seq));
    e.kind = *kind;
    e.entry_id = EntryId(st->text(2));
    e.action = *action;
    e.surface = *surface;
    e.phase = *phase;
    e.delete_in_crm = st->int64(6) != 0;
    e.at = UtcTime{st->int64(7)};
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::int64_t> ChangeLog::last_seq() {
  auto cached = db_.cached(kMaxSeq);
  if (!cached) return cached.error();
  Statement* st = *cached;
  ResetOnExit done(*st);
  auto row = st->step();
  if (!row) return row.error();
  return st->int64(0);
}

}  // namespace crmsync::sql
