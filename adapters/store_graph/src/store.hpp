// The Graph adapter itself, split by concern: the StoreAdapter methods (adapter.cpp), reading
// and writing items (items.cpp), $batch (batch.cpp), delta rounds turned into change-log events
// (delta.cpp), and the lease and handoff queue as hidden messages (lease.cpp).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client.hpp"
#include "codec.hpp"
#include "crmsync/core/lease.hpp"
#include "crmsync/store_graph/graph_store.hpp"
#include "state.hpp"
#include "zone.hpp"

namespace crmsync::graph {

// One delta collection: a default folder of the mailbox.
struct Collection {
  std::string_view name;
  ItemKind kind;
  Folder folder;
};
inline constexpr Collection kCollections[] = {
    {"contacts", ItemKind::kContact, Folder::kContacts},
    {"tasks", ItemKind::kTask, Folder::kTasks},
    {"calendar", ItemKind::kAppointment, Folder::kCalendar},
    {"inbox", ItemKind::kEmail, Folder::kInbox},
    {"sentitems", ItemKind::kEmail, Folder::kSentItems},
    {"drafts", ItemKind::kEmail, Folder::kDrafts},
};
const Collection& collection_of(Folder f);

// The index entry of an item as read or written.
Known known_of(const StoreItem& item, const TrackCategory& track);

// Entry ids carry the kind, which picks the URL: "contact:<graph id>".
std::string entry_of(ItemKind kind, std::string_view graph_id);
// The kind and Graph id of an entry id; nullopt for one this adapter did not make.
std::optional<std::pair<ItemKind, std::string>> split_entry(const EntryId& id);

class GraphStoreImpl final : public GraphStore, public LeaseStore, public HandoffQueue {
 public:
  GraphStoreImpl(const GraphStoreConfig& config, Zone zone, Clock& clock,
                 std::unique_ptr<http::Transport> transport, State state);

  // ---- StoreAdapter (adapter.cpp)
  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override;
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind kind, UtcTime since) override;
  Result<StoreItem> get(const EntryId& id) override;
  std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>& ids) override;
  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& id) override;
  std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>& ids) override;
  Result<StoreItem> create(const NewStoreItem& item) override;
  std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>& items) override;
  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override;
  Result<void> remove(const EntryId& id) override;
  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override;
  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override;
  LeaseStore* lease_store() override { return this; }
  HandoffQueue* handoff_queue() override { return this; }
  Result<std::int64_t> record_decision(const StoreEvent& decision) override;

  // ---- LeaseStore, HandoffQueue (lease.cpp)
  Result<Versioned> read_lease() override;
  Result<std::string> write_lease(const std::string& expected_version,
                                  const LeaseRecord& next) override;
  Result<void> enqueue(const QueuedChange& change) override;
  Result<std::vector<QueuedChange>> peek(std::size_t max) override;
  Result<void> remove(const std::string& id) override;
  Result<std::int64_t> depth() override;

 private:
  // ---- items.cpp
  // The mailbox's identity (a state file is one mailbox's), its mail folders' and default task
  // list's ids; once per adapter (ids kept in the state file).
  Result<void> resolve();
  std::string item_url(ItemKind kind, std::string_view graph_id) const;  // without a query
  std::string read_url(ItemKind kind, std::string_view graph_id) const;  // with $expand
  std::string create_url(Folder folder) const;
  // The item as the codec reads it from an answer: its folder checked (kNotFound elsewhere).
  Result<StoreItem> item_from(ItemKind kind, const Json& entity);
  struct Fetched {
    StoreItem item;
    Doc json;
  };
  Result<Fetched> fetch(const EntryId& id);
  Result<StoreItem> create_one(const NewStoreItem& item);
  // The store item a create's answer stands for (with what it leaves out), recorded.
  Result<StoreItem> created(const NewStoreItem& item, const Json& answer);
  // The daemon's own write: the index entry (so the next delta round does not report it again,
  // C5) and its event, at once.
  Result<void> record(const StoreItem& item, Action action, Surface surface = Surface::kNone);
  // Appends one event stamped now (in the caller's transaction, if any); its seq.
  Result<std::int64_t> log_event(ItemKind kind, const std::string& entry_id, Action action,
                                 Surface surface = Surface::kNone);
  Result<void> ensure_master_category();
  // Sends a patch (If-Match the current change key; a task's linked resource after it).
  // Returns the item's new change key and modification time.
  struct Written {
    std::string change_key;
    UtcTime modified;
  };
  Result<Written> write_patch(const EntryId& id, const StoreItem& current, const Json& raw,
                              const Patch& patch);

  // ---- batch.cpp: GETs and POSTs many per $batch request (at most batch_size each)
  struct BatchPart {
    std::string method;
    std::string url;  // absolute, under the mailbox
    std::string body;
  };
  struct BatchAnswer {
    int status = 0;
    Doc json;
    std::string raw;
    http::Headers headers;
  };
  // One answer per part, in order; a transport failure fails every part of its batch.
  std::vector<Result<BatchAnswer>> batch(const std::vector<BatchPart>& parts, bool may_repeat);

  // ---- delta.cpp
  Result<void> sync_all();
  Result<void> sync_collection(const Collection& c);
  Result<std::string> initial_link(const Collection& c, std::int64_t window) const;
  std::int64_t window_start() const;
  // U1: an item that gained or lost the track category gets the tracked mark in step and the
  // user's intent in the log (kTrack / kUntrack, from the explorer).
  Result<void> apply_intent(const std::string& entry_id, Action intent);
  Result<void> confirm_gone(const Collection& c, const std::vector<Known>& unseen);

  // ---- lease.cpp
  struct Hidden;
  Result<std::vector<Hidden>> hidden_items(std::string_view kind);
  Result<std::string> hidden_folder();

  GraphStoreConfig config_;
  Zone zone_;
  TrackCategory track_;
  CodecContext ctx_;
  Clock& clock_;
  Client client_;
  State state_;
  bool resolved_ = false;
  std::map<Folder, std::string> folder_ids_;  // inbox, sentitems, drafts
  std::string task_list_;
  std::string hidden_folder_;
  bool master_category_ok_ = false;
  std::chrono::steady_clock::time_point next_poll_{};
  std::chrono::milliseconds poll_interval_{0};
  std::int64_t queue_counter_ = 0;
};

}  // namespace crmsync::graph
