// The local change log (SPEC S1) that a store keeping a SQLite file writes and reads: the
// mock mailbox's `events` table and the EWS state file's. One place for the SQL and the row
// <-> StoreEvent conversion, so that both stores read their log the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crmsync/core/sqlite.hpp"
#include "crmsync/core/store_adapter.hpp"

namespace crmsync::sql {

class ChangeLog {
 public:
  // The table as each store created it (existing files keep their schema).
  enum class Layout {
    // events(seq, kind, entry_id, action, surface, phase, delete_in_crm, at): the mock mailbox.
    kFull,
    // events(seq, kind, entry_id, action, at_ms): the EWS state file, which learns changes
    // from SyncFolderItems and so never knows a surface, a phase or a delete-in-CRM.
    kActionOnly,
  };

  // `db` must outlive the log; `who` names the store in error messages.
  ChangeLog(Database& db, Layout layout, std::string who)
      : db_(db), layout_(layout), who_(std::move(who)) {}

  // Appends one event (its seq and those fields the layout lacks are ignored). Runs in the
  // caller's transaction, if any.
  Result<void> append(const StoreEvent& event);
  // Events with seq > `after`, oldest first, at most `max`. kCorrupt for a malformed row.
  Result<std::vector<StoreEvent>> after(std::int64_t after, std::size_t max);
  // The highest seq written, 0 for an empty log.
  Result<std::int64_t> last_seq();

 private:
  Database& db_;
  Layout layout_;
  std::string who_;
};

}  // namespace crmsync::sql
