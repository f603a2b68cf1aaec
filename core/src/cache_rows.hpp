// The cache's rows (core/src/cache.cpp): the schema's migrations, the change names, and the
// conversions between a row and a Mapping or a PendingChange. Internal to crmsync_core.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "crmsync/core/cache.hpp"
#include "crmsync/core/sqlite.hpp"

namespace crmsync::cache_rows {

// Migrations: entry i brings user_version i to i + 1. Never edit a shipped entry; append.
extern const std::array<const char*, Cache::kSchemaVersion> kMigrations;

std::string_view name_of(StoreChange c);
std::string_view name_of(CrmChange c);

// A value as the conflicts table keeps it, and back ("<unreadable>" for a damaged one).
std::string one_value(const Value& v);
Value read_one_value(const std::string& xml);

#define CRMSYNC_MAPPING_COLUMNS                                                                 \
  "map_id, crm_id, entry_id, object_type, linked, deleted_locally, visited, manually_tracked, " \
  "create_pending, verified_time, original_state, store_change_key, owner_id, crm_state"
// A literal, so that the lookups can be cached statements (keyed by their SQL's address).
#define CRMSYNC_SELECT_MAPPING "SELECT " CRMSYNC_MAPPING_COLUMNS " FROM id_mapping"
// The columns read_change reads, in its order; `c` is sync_changes.
#define CRMSYNC_CHANGE_COLUMNS                                                       \
  "change_id, map_id, store_change, store_timestamp, store_surface, crm_change, "    \
  "crm_timestamp, crm_record, crm_owner, attempts, next_attempt, last_error, held, " \
  "(SELECT object_type FROM id_mapping m WHERE m.map_id = c.map_id), "               \
  "(SELECT crm_id FROM id_mapping m WHERE m.map_id = c.map_id), crm_row_version"

// The row of CRMSYNC_MAPPING_COLUMNS starting at column c0.
Result<Mapping> read_mapping(const sql::Statement& s, int c0 = 0);
// Binds every column but map_id, from parameter `first` on, in insert order.
void bind_mapping(sql::Statement& s, const Mapping& m, int first);
// The row of CRMSYNC_CHANGE_COLUMNS.
Result<PendingChange> read_change(const sql::Statement& s);

}  // namespace crmsync::cache_rows
