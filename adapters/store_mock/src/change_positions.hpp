// S2 for the mock mailbox by its own order of writes (StoreAdapter::headers_changed_after):
// every write appends to the change log in the write's transaction, and writers take the
// write lock before they begin, so the log's seq orders the commits. A position is the last
// seq a reader's snapshot held; an item written after it has a later event, whatever its
// modification time says.
#pragma once

#include <string>

#include "crmsync/core/sqlite.hpp"
#include "crmsync/core/store_adapter.hpp"

namespace crmsync::store_mock {

Result<ChangedHeaders> headers_changed_after(sql::Database& db, ItemKind kind,
                                             const std::string& position);

}  // namespace crmsync::store_mock
