// The primary role (SPEC §6): a lease kept in the store, where all of the user's clients
// see it, and the handoff queue through which secondaries give their changes to the primary.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/core/role.hpp"
#include "crmsync/core/store_adapter.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync {

// The lease as stored. `expires` is wall time: other machines read it.
struct LeaseRecord {
  std::string holder;      // the holding client's client_id; "" = released
  std::int64_t epoch = 0;  // strictly increasing with each new holder: a fencing token
  UtcTime expires;
};

// Where the lease lives (the mock mailbox: a row; EWS/MAPI: a hidden item). Writes are
// compare-and-swap on an opaque version (a change key), so two clients never both win.
// Owned by its store adapter (StoreAdapter::lease_store()); called from the sync worker only.
class LeaseStore {
 public:
  LeaseStore() = default;
  LeaseStore(const LeaseStore&) = delete;
  LeaseStore& operator=(const LeaseStore&) = delete;
  virtual ~LeaseStore() = default;

  struct Versioned {
    LeaseRecord record;
    std::string version;  // "" when no lease was ever written
  };
  // The lease as stored (holder "" and version "" when none was ever written). kTransient.
  virtual Result<Versioned> read_lease() = 0;
  // Writes `next` if the stored version is still `expected_version`; kConflict otherwise.
  // Returns the new version.
  virtual Result<std::string> write_lease(const std::string& expected_version,
                                          const LeaseRecord& next) = 0;
};

// One change a secondary hands to the primary (SPEC T5).
struct QueuedChange {
  std::string id;  // set by the queue
  std::string client_id;
  ItemKind kind = ItemKind::kContact;
  EntryId entry_id;
  Action action = Action::kUpdate;
  bool delete_in_crm = false;
  UtcTime at;
};

// A store event handed over, and back (the queue carries what the event said).
QueuedChange to_queued(const StoreEvent& event, const std::string& client_id);
StoreEvent to_event(const QueuedChange& change);

// Durable and ordered, in the shared store. Owned by its store adapter
// (StoreAdapter::handoff_queue()); called from the sync worker only. Errors: kTransient,
// kCorrupt (an entry that does not parse: the message names it).
class HandoffQueue {
 public:
  HandoffQueue() = default;
  HandoffQueue(const HandoffQueue&) = delete;
  HandoffQueue& operator=(const HandoffQueue&) = delete;
  virtual ~HandoffQueue() = default;

  virtual Result<void> enqueue(const QueuedChange& change) = 0;
  // The oldest `max` entries, oldest first.
  virtual Result<std::vector<QueuedChange>> peek(std::size_t max) = 0;
  // Removes one entry once the primary has recorded it (kNotFound is not an error for callers
  // that retry after a crash).
  virtual Result<void> remove(const std::string& id) = 0;
  virtual Result<std::int64_t> depth() = 0;
};

struct LeaseState {
  LeaseRecord record;        // as last read or written
  bool held = false;         // this client holds it and may act as primary now
  std::int64_t changes = 0;  // how often the holder changed, as this client saw it (metrics)
};

// Takes, renews and releases the lease for one client (SPEC P1, P2). Not thread-safe.
class LeaseKeeper {
 public:
  LeaseKeeper(LeaseStore& store, Clock& clock, std::string client_id, Role role,
              std::chrono::milliseconds ttl, std::chrono::milliseconds max_skew);

  // Call every ttl/3: a primary takes the lease when it is free or expired (by the wall
  // clock, plus the allowed skew), and renews it while it holds it. Store errors leave the
  // lease to expire: this client stops acting as primary on its own deadline.
  Result<LeaseState> tick();
  // True while this client may act as primary: it holds the lease and its own monotonic
  // deadline (last successful write + ttl - max_skew) has not passed. Roaming: always.
  bool may_act_as_primary() const;
  // Gives the lease up at once (graceful stop).
  Result<void> release();
  const LeaseState& state() const { return state_; }
  std::chrono::milliseconds renew_interval() const { return ttl_ / 3; }

 private:
  LeaseStore& store_;
  Clock& clock_;
  std::string client_id_;
  Role role_;
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds skew_;
  LeaseState state_;
  std::string version_;
  std::optional<MonoTime> act_until_;
  std::string last_holder_;
};

}  // namespace crmsync
