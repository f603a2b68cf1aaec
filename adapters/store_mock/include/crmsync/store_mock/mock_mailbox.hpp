// The mock mailbox: a real store adapter over one SQLite file with MAPI-like semantics
// (STYLE.md 3). Good enough for the demo and for engine tests; the implementation is hidden
// behind open_mock_mailbox(). Fault tricks live in tests/support/, not here.
//
// Semantics, like Outlook's store:
// - items live in folders per kind (contacts, tasks, calendar; e-mails in inbox = received,
//   sentitems = sent, drafts = draft); entry ids are opaque 48-digit upper-case hex;
// - every write gives the item a new change key and a last-modification time from the Clock,
//   strictly increasing per item; an update with a stale change key is kConflict;
// - the CRM link (tracked, crm id, pending flag, crm entity) is kept on the item, like the
//   CRM client's named properties, and the crm id is indexed;
// - items have categories (SPEC U1); every write keeps the track category in step with the
//   tracked mark, and the user's category changes read as track and untrack (set_category);
// - every change, by the user or by the daemon, is appended to a durable change log
//   (seq strictly increasing) read with events_after(); deletes leave their event behind.
// Several processes may open one file at once (WAL, busy timeout): each method is one
// transaction, writes take the write lock up front (BEGIN IMMEDIATE).
// Unknown fields for the item's kind are kInvalid and nothing is written.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/core/store_adapter.hpp"
#include "crmsync/core/track_category.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync {

// A StoreAdapter plus what the user does in Outlook; the CLI (`crmsync mailbox ...`) and
// tests drive these. `surface` says where the user did it: kInspector logs a save event then
// a close event, kExplorer one event with phase none, kNone one event from "elsewhere".
// Not thread-safe: one thread per MockMailbox (open one per thread or process instead).
class MockMailbox : public StoreAdapter {
 public:
  using StoreAdapter::remove;

  // The schema version this build writes; a file with a newer one is refused (kCorrupt).
  static constexpr int kSchemaVersion = 2;
  // Values longer than this (bytes) are kInvalid.
  static constexpr std::size_t kMaxValueBytes = 16u << 20;

  // Creates an item of `kind` in `folder` (default_folder(kind) when absent) with `fields`
  // (nulls are left out). Logs create, and track when `track`. Returns the new entry id.
  virtual Result<EntryId> add(ItemKind kind, std::optional<Folder> folder, const FieldMap& fields,
                              bool track, Surface surface) = 0;
  // Sets the fields (null clears one). Logs update.
  virtual Result<void> set(const EntryId& id, const FieldMap& fields, Surface surface) = 0;
  // Deletes the item. Logs delete; the event stays after the row is gone.
  virtual Result<void> remove(const EntryId& id, Surface surface) = 0;
  // Marks the item tracked ("Track in CRM"). Logs track.
  virtual Result<void> track(const EntryId& id, Surface surface) = 0;
  // Clears the CRM link (tracked, crm id, pending flag, entity). Logs untrack with
  // `delete_in_crm` (the user asked for the CRM record to be deleted).
  virtual Result<void> untrack(const EntryId& id, bool delete_in_crm, Surface surface) = 0;
  // Sets Regarding (tasks, appointments, e-mails; kInvalid for contacts). Logs set-regarding.
  virtual Result<void> set_regarding(const EntryId& id, const EntityRef& regarding,
                                     Surface surface) = 0;
  // Sends a draft e-mail: moves it to sentitems, sets SentTime to now. Logs send with
  // surface inspector and phase send. kInvalid when the item is not a draft e-mail.
  virtual Result<void> send(const EntryId& id) = 0;
  // U1: adds (`present`) or removes the category `name` (check_category_name; compared
  // case-insensitively) as the user does in any client; a no-op when the item already has it
  // (or lacks it). The file's track category gained by an untracked item marks it tracked and
  // logs the explorer's track; lost by a tracked one, clears the CRM link and logs the
  // explorer's untrack; any other change logs an update with surface none.
  virtual Result<void> set_category(const EntryId& id, std::string_view name, bool present) = 0;
  // All items (of `kind` when given), newest modification first.
  virtual Result<std::vector<StoreItem>> list(std::optional<ItemKind> kind) = 0;
  // The highest event seq so far (0 when none).
  virtual Result<std::int64_t> last_event_seq() = 0;
};

// Opens (creating when missing) the mock mailbox at `path`. `clock` must outlive the mailbox.
// `track`: the daemon's sync.track_category (U1), recorded in the file so that every process
// reads category changes by the same name; without it (the CLI acting as the user), the one
// the file records, else the default. kCorrupt when the file is not a mailbox or has a newer
// schema (the file is left untouched), kPermission when it cannot be opened.
Result<std::unique_ptr<MockMailbox>> open_mock_mailbox(
    const std::string& path, Clock& clock, std::optional<TrackCategory> track = std::nullopt);

}  // namespace crmsync
