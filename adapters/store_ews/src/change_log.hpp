// The EWS store's change log (SPEC S1; internal to store_ews). EWS has no global change log:
// SyncFolderItems over the six folders turns Create/Update/Delete into events in a local
// sequence kept in the adapter's SQLite state file, beside the change keys of the items it
// knows. The adapter's own writes are logged at once and their change keys remembered, so the
// next sync does not report them again (SPEC C5). The user's intents are kept in step both
// ways (SPEC U1): an item another client gave the track category while untracked is logged as
// the explorer's track and gets the tracked mark, one tracked that lost it as the explorer's
// untrack and its CRM link cleared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "caller.hpp"
#include "crmsync/core/category_store.hpp"
#include "crmsync/core/change_log.hpp"
#include "crmsync/core/sqlite.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync::ews {

class ChangeLog {
 public:
  // Opens (creates, migrates) the state file; kCorrupt for a newer version.
  static Result<sql::Database> open_state(const std::string& path);

  // `caller` and `clock` must outlive the log.
  ChangeLog(Caller& caller, Clock& clock, sql::Database db, TrackCategory track)
      : caller_(caller), clock_(clock), db_(std::move(db)), track_(std::move(track)) {}

  // The daemon's own write: the item's change key as we know it and its event, at once.
  Result<void> record(Folder folder, const ItemRef& ref, Action action);
  // An event of the adapter's choosing (the user's decision, SPEC U2), with the change key of
  // the write it made (`written`, or none); its seq. The time is the clock's.
  Result<std::int64_t> record_event(Folder folder, const ItemRef* written, StoreEvent event);
  // Only the change key (a create whose item read back with a newer one).
  Result<void> remember(Folder folder, const std::string& id, const std::string& change_key);

  // Runs a sync pass over every folder, turning what changed into events.
  Result<void> sync_all();
  // Events with seq > `after`, oldest first, at most `max`.
  Result<std::vector<StoreEvent>> after(std::int64_t after, std::size_t max);
  Result<std::int64_t> last_seq();

 private:
  enum class Mode { kBaseline, kIncremental, kReconcile };
  Result<void> sync_folder(Folder folder);
  Result<std::optional<std::string>> known_change_key(const std::string& id);
  Result<void> upsert_known(Folder folder, const std::string& id, const std::string& change_key);
  Result<void> forget(const std::string& id);
  Result<void> insert_event(ItemKind kind, const std::string& id, Action action,
                            Surface surface = Surface::kNone);
  sql::ChangeLog events();
  // The user's intent (U1) in an item a sync pass listed: its tracked mark, set after the
  // pass's page is committed.
  struct Intent {
    Folder folder;
    ItemRef ref;
    bool tracked;
    CategoryMark mark;
  };
  void apply(const std::vector<Intent>& intents);

  Caller& caller_;
  Clock& clock_;
  sql::Database db_;
  TrackCategory track_;
};

}  // namespace crmsync::ews
