// The store seam: the mailbox side (mock mailbox, EWS, MAPI) as the engine sees it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/model/item.hpp"

namespace crmsync {

class LeaseStore;
class HandoffQueue;

// Where an item lives. E-mails: inbox (received), sentitems (sent), drafts.
enum class Folder { kContacts, kTasks, kCalendar, kInbox, kSentItems, kDrafts };
std::string_view to_string(Folder f);
Result<Folder> parse_folder(std::string_view s);
Folder default_folder(ItemKind kind);
// The kind of item a default folder holds (the mail folders: e-mails).
ItemKind kind_of_folder(Folder folder);

// The CRM link the way the CRM client stores it on the item (named properties on
// MAPI/EWS, columns in the mock mailbox).
struct CrmLink {
  bool tracked = false;
  std::optional<CrmId> crm_id;
  // The id was chosen for a create that may not have reached CRM yet (SPEC X1):
  // whoever sees it looks the record up before creating.
  bool crm_id_pending = false;
  // The CRM entity behind a task item (phonecall, letter, fax) when it is not a task.
  std::optional<CrmEntity> crm_entity;
  bool operator==(const CrmLink&) const = default;
};

struct StoreItem {
  EntryId entry_id;
  std::string change_key;  // changes on every write; updates carry it (optimistic concurrency)
  Folder folder = Folder::kContacts;
  Item item;  // kind, fields by SPEC §7 store names, last modification
  CrmLink link;
  // The item's categories as the user sees them (U1): the user's own and the track category,
  // which the adapter keeps in step with link.tracked (crmsync/core/track_category.hpp).
  std::vector<std::string> categories;
};

// What the modified-since scan needs to decide whether to read an item at all (S2).
struct StoreItemHeader {
  EntryId entry_id;
  std::string change_key;
  UtcTime modified;
  bool tracked = false;
};

// The items of a kind written after a position of the store's own order of writes, and the
// position to ask from next time (StoreAdapter::headers_changed_after).
struct ChangedHeaders {
  std::vector<StoreItemHeader> headers;  // any order
  std::string position;                  // opaque to the caller
};

enum class Surface { kNone, kInspector, kExplorer };  // kNone: another device, the web, a script
enum class Phase { kNone, kSave, kClose, kSend };
enum class Action { kCreate, kTrack, kUntrack, kUpdate, kDelete, kSetRegarding, kSend };
std::string_view to_string(Surface s);
std::string_view to_string(Phase p);
std::string_view to_string(Action a);
Result<Surface> parse_surface(std::string_view s);
Result<Phase> parse_phase(std::string_view s);
Result<Action> parse_action(std::string_view s);

// One entry of the store's durable change log (SPEC S1).
struct StoreEvent {
  std::int64_t seq = 0;  // strictly increasing within one store
  ItemKind kind = ItemKind::kContact;
  EntryId entry_id;
  Action action = Action::kUpdate;
  Surface surface = Surface::kNone;
  Phase phase = Phase::kNone;
  bool delete_in_crm = false;  // an untrack that asked for the record to be deleted (D2, D5, D11)
  UtcTime at;
};

struct NewStoreItem {
  Folder folder = Folder::kContacts;
  Item item;
  CrmLink link;
};

// Contract for every store adapter. Calls are synchronous and made from one thread
// (the sync worker); an adapter bounds each call with its own deadline.
// Errors: kNotFound (no such item), kConflict (stale change key), kInvalid (bad field or
// value: the item is skipped), kTransient (retry later), kPermission/kCorrupt (stop).
// Writes made through this interface are the daemon's own: they are logged as events
// with Surface::kNone and the daemon recognises them by change key (SPEC C5).
class StoreAdapter {
 public:
  StoreAdapter() = default;
  StoreAdapter(const StoreAdapter&) = delete;
  StoreAdapter& operator=(const StoreAdapter&) = delete;
  virtual ~StoreAdapter() = default;

  // Items of `kind` modified at or after `since`, newest first (SPEC S2).
  virtual Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) = 0;
  // The headers of the items scan_modified_since returns, in the same order. A store that
  // lists them without reading the items (a contents table's columns, FindItem IdOnly)
  // overrides it: the engine then reads only what changed since it last saw it. The
  // default takes them from scan_modified_since.
  virtual Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind kind, UtcTime since);
  // S2 by the store's own order of writes, for a store that keeps one (the mock mailbox's
  // change log; EWS SyncFolderItems' sync state and Graph's delta links are the same idea):
  // the headers of the items of `kind` created or changed after `position` ("" : all of them)
  // and the position to ask from next time. Unlike scan_headers_since it cannot miss an item
  // whose modification time is old (written on a device whose clock is behind, or copied in
  // with its own time), so it needs no margin, and with nothing new it lists nothing: the cost
  // of a no-op follows the changes, not the mailbox's size (issue #20). kInvalid for a
  // position this store never gave (another file, a reset mailbox): ask again from "".
  // has_change_positions() says whether the store keeps such an order; the default does not
  // (headers_changed_after then answers kInvalid, and callers scan by time).
  virtual bool has_change_positions() { return false; }
  virtual Result<ChangedHeaders> headers_changed_after(ItemKind kind, const std::string& position);
  // The item, or kNotFound.
  virtual Result<StoreItem> get(const EntryId& id) = 0;
  // Several items, one result each, in order, as get() gives them: what one request (EWS
  // GetItem with many ids) can carry. The default reads them one by one.
  virtual std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>& ids);
  // The item linked to this CRM id (pending or not), if any (SPEC X1 look-up before create).
  virtual Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& id) = 0;
  // find_by_crm_id for several ids, one result each, in order: what one request (EWS FindItem
  // with an Or of the ids) can carry. The default looks them up one by one.
  virtual std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>& ids);
  // Creates an item; returns it with its new entry id and change key.
  virtual Result<StoreItem> create(const NewStoreItem& item) = 0;
  // Creates several items, one result each, in order: what one request (EWS CreateItem) or one
  // transaction (the mock mailbox) can carry. A failed item fails alone. The default creates
  // them one by one.
  virtual std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>& items);
  // Sets the given fields (null clears) and, when given, the CRM link, if the item's change
  // key is still `expected_change_key`; kConflict otherwise. Returns the new change key.
  virtual Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                                     const FieldMap& changes,
                                     const std::optional<CrmLink>& link) = 0;
  // Deletes the item; kNotFound when it is already gone.
  virtual Result<void> remove(const EntryId& id) = 0;

  // Change-log events with seq > `after`, oldest first, at most `max` (SPEC S1). The
  // caller keeps its own cursor, so several clients may read one store.
  virtual Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) = 0;
  // Blocks up to `timeout` until an event after `after` may be there; true if so.
  // Waiting is an optimisation: callers also scan (S2), so a false negative loses nothing.
  virtual bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) = 0;
  // Calls `on_change` (from a thread of the adapter's own, so it must only signal) whenever
  // the store may have changed, until the adapter is destroyed: a waiting caller can then
  // sleep instead of polling wait_for_events (the mock mailbox: inotify on its file). False
  // when the store cannot tell (the default): poll. At most once per adapter.
  virtual bool watch_changes(std::function<void()> on_change) {
    (void)on_change;
    return false;
  }

  // SPEC U2: a decision the user made through the daemon (CLI or HTTP: track, untrack with or
  // without "delete in CRM", set regarding), appended to the change log as the user's own
  // event with Surface::kExplorer and Phase::kNone, so that the engine applies it with the
  // rules of the seed's button, and T2 makes it immediate on a primary and queued on a
  // secondary. `decision` gives the kind, entry id, action and delete_in_crm; the adapter
  // sets seq, surface, phase and the time. kTrack and kUntrack also set the item's tracked
  // mark (an untrack clears the whole CRM link, as the user's untrack does) and keep the
  // track category in step (U1); kSetRegarding only records the event (the caller has set
  // Regarding with update() first). Returns the event's seq. kNotFound for an unknown item,
  // kInvalid for another action. The caller checks that the decision changes something (a
  // replayed track is refused before it gets here).
  virtual Result<std::int64_t> record_decision(const StoreEvent& decision) = 0;

  // Capabilities (STYLE.md 5): the lease record and the handoff queue of SPEC §6, when the
  // store hosts them where all of the user's clients see them; null otherwise. Owned by the
  // adapter, valid while it lives.
  virtual LeaseStore* lease_store() = 0;
  virtual HandoffQueue* handoff_queue() = 0;
};

}  // namespace crmsync
