// The mock mailbox's file (private to store_mock): its schema and versions, opening it, the
// track category it records (SPEC U1), and the two records of SPEC §6 that live in it (the
// primary lease and the handoff queue). mock_mailbox.cpp holds the items and the change log.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crmsync/core/lease.hpp"
#include "crmsync/core/sqlite.hpp"
#include "crmsync/core/track_category.hpp"

namespace crmsync::store_mock {

// The first column of the first row as an integer (0 when there is no row).
Result<std::int64_t> query_int(sql::Database& db, std::string_view sql);

// Opens the mailbox at `path` (creating it when missing) and brings its schema to the
// current version. kCorrupt, leaving the file untouched, when it is not a mock mailbox or has
// a newer schema; errors name the path.
Result<sql::Database> open_file(const std::string& path);

// The track category the file records (U1): `track` when given (the daemon's
// sync.track_category, written when it differs), else the one recorded, else the default.
Result<TrackCategory> track_category(sql::Database& db, const std::optional<TrackCategory>& track);

std::unique_ptr<LeaseStore> make_lease(sql::Database& db);
std::unique_ptr<HandoffQueue> make_queue(sql::Database& db);

}  // namespace crmsync::store_mock
