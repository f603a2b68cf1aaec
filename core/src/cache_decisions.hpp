// The cache's side of the user's decisions (SPEC U2): its conflict records and the pending
// changes a user retries or ignores. Private to crmsync_core: SqliteCache (cache.cpp) owns the
// connection and calls these inside its methods; no SQL lives outside the cache.
#pragma once

#include <cstdint>
#include <optional>

#include "crmsync/core/cache.hpp"
#include "crmsync/core/sqlite.hpp"

namespace crmsync::cache_decisions {

// D10: the pending changes that may delete on each side, as SQL over sync_changes c joined
// with id_mapping m (Cache::pending_deletions says which).
inline constexpr const char* kStoreSideDeletion =
    "c.crm_change IN ('delete', 'left-filter') AND m.object_type <> 'email'";
inline constexpr const char* kCrmSideDeletion =
    "(c.store_change = 'untrack-delete-in-crm' OR (c.store_change IN ('delete', 'untrack') AND "
    "m.object_type NOT IN ('contact', 'email')))";

// The columns read_conflict reads, in its order.
#define CRMSYNC_CONFLICT_COLUMNS                                                                \
  "conflict_id, map_id, object_type, crm_id, entry_id, field, store_value, crm_value, winner, " \
  "at, base_value"
ConflictRecord read_conflict(const sql::Statement& s);

Result<std::optional<ConflictRecord>> conflict(sql::Database& db, std::int64_t id);
Result<bool> drop_conflict(sql::Database& db, std::int64_t id);
Result<bool> retry_change_now(sql::Database& db, MapId id);
Result<bool> drop_change(sql::Database& db, MapId id);
Result<std::vector<MapId>> pending_deletion_pairs(sql::Database& db, Cache::Side side,
                                                  std::size_t limit);

}  // namespace crmsync::cache_decisions
