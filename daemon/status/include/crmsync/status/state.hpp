// The daemon's status: a snapshot of its state that the sync worker publishes and the HTTP
// endpoint serves (DESIGN.md "Threads": the API reads it, no lock is held across I/O), and
// what a manual sync request asks for. Plain data; neither side's code.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/model/cycle_summary.hpp"
#include "crmsync/model/value.hpp"

namespace crmsync::status {

// A manual sync request (POST /v1/sync).
struct SyncParams {
  bool wait = false;
  bool allow_mass_delete = false;
};

// One finished (or running) cycle: what the engine reported (its counts and notices as they
// are) and what the daemon adds.
struct CycleInfo {
  std::int64_t id = 0;
  bool full = true;                    // false: an immediate sync of a few items (T2)
  std::vector<std::int64_t> requests;  // the manual sync requests this cycle answers
  UtcTime started;
  std::optional<UtcTime> finished;
  std::string result;    // "ok", "item-errors", "mass-delete-held", "failed"; "" while running
  CycleSummary summary;  // zero while running and when stopped
  std::optional<std::string> failure;  // redacted for the endpoint and the log
};

struct KindCounts {
  std::int64_t mapped = 0;
  std::int64_t pending = 0;
  std::int64_t errors = 0;
  std::int64_t conflicts = 0;
  std::int64_t held = 0;
};

struct ErrorRow {
  std::string entity;
  std::string crm_id;
  std::string entry_id;
  std::string error;
  int attempts = 0;
  UtcTime next_attempt;
  std::int64_t id = 0;  // the pair's map id: `crmsync errors retry|ignore ID` (U2)
};

struct ConflictRow {
  std::int64_t id = 0;
  std::string entity;
  std::string crm_id;
  std::string entry_id;
  std::string field;
  std::string store_value;
  std::string crm_value;
  std::string winner;
  UtcTime at;
  std::optional<std::string> base_value;  // the merge's base (U2); unknown for older records
};

// A deletion the mass-delete guard holds back (D10) until the user confirms or rejects it
// (SPEC U2: `crmsync deletions`).
struct HeldDeletion {
  std::int64_t id = 0;  // the pair's map id
  std::string entity;
  std::string crm_id;
  std::string entry_id;
  std::string side;    // where it would delete: "crm" or "mailbox"
  std::string change;  // what asks for it: "delete", "untrack-delete-in-crm", "left-filter", ...
  UtcTime at;
};

// A decision of the user's (SPEC U2) as the endpoint validated it, for the worker to act on
// with the rules of the seed's button it replaces.
struct Decision {
  enum class Type {
    kItems,             // GET /v1/items: what the daemon knows, from the cache and the store
    kTrack,             // POST /v1/items/track
    kUntrack,           // POST /v1/items/untrack
    kRegarding,         // POST /v1/items/regarding
    kFindRegarding,     // GET /v1/regarding/candidates: CRM records by name
    kResolveConflict,   // POST /v1/conflicts/resolve
    kConfirmDeletions,  // POST /v1/deletions/confirm
    kRejectDeletions,   // POST /v1/deletions/reject
    kRetryError,        // POST /v1/errors/retry
    kIgnoreError,       // POST /v1/errors/ignore
  };
  Type type = Type::kItems;
  std::string entry_id;               // track, untrack, regarding
  bool delete_in_crm = false;         // untrack (D2, D5, D11)
  std::string regarding;              // regarding: "entity:guid"
  std::vector<std::string> entities;  // find-regarding: logical names to search
  std::string text;                   // items, find-regarding: what to look for
  std::int64_t id = 0;                // a conflict's id; an error's (the pair's map id)
  std::string keep;                   // resolve: "crm", "mailbox" or "merged"
  std::vector<std::int64_t> ids;      // deletions: map ids; empty = every held one
  std::string kind;                   // items: an item kind, "" = all
  std::optional<bool> tracked;        // items
  std::size_t limit = 200;            // items, find-regarding
};

// The worker's answer: an HTTP status and a JSON body ({"error": "..."} when not 2xx).
struct DecisionReply {
  int status = 200;
  std::string body = "{}";
};

// An entry of /v1/events: ids increase by one; `data` is a JSON object text.
struct Event {
  std::int64_t id = 0;
  std::string type;  // "cycle-started", "progress", "cycle-finished", "config-reloaded"
  UtcTime at;
  std::string data = "{}";
};

struct LeaseInfo {
  std::string holder;
  std::int64_t epoch = 0;
  UtcTime expires;
};

// Upper bounds (seconds) of crmsync_cycle_duration_seconds.
inline constexpr double kDurationBuckets[] = {0.1, 0.5, 1, 5, 15, 60, 300, 1800};

struct Metrics {
  std::map<std::string, std::int64_t> cycles_total;                          // by result
  std::map<std::pair<std::string, std::string>, std::int64_t> items_synced;  // kind, direction
  std::int64_t conflicts_total = 0;
  std::int64_t lease_changes_total = 0;  // the lease holder changed, as this client saw it
  std::int64_t duration_bucket_counts[std::size(kDurationBuckets)] = {};
  std::int64_t duration_count = 0;
  double duration_sum = 0;
};

struct Snapshot {
  std::string version;
  std::string state = "starting";  // starting, idle, syncing, stopping, needs_login
  std::string role;
  std::string client_id;
  std::string profile;
  std::int64_t pid = 0;
  std::optional<LeaseInfo> lease;  // null until the lease lands
  std::optional<CycleInfo> last_cycle;
  std::optional<CycleInfo> current_cycle;
  std::string step;  // of the running cycle
  std::int64_t step_done = 0;
  std::int64_t step_total = 0;
  std::map<std::string, KindCounts> counts;  // by CRM entity
  std::int64_t queue_depth = 0;              // changes in the shared handoff queue (T5)
  std::int64_t pending_changes = 0;          // changes waiting in this client's cache
  std::int64_t pending_requests = 0;         // manual syncs not started yet
  std::vector<std::string> notices;
  // Sides whose sign-in is gone or refused (SPEC U3): "crm". They sync again after
  // `crmsync login`; what is queued waits.
  std::vector<std::string> needs_login;
  std::optional<UtcTime> next_sync;  // null when automatic sync is off
  int interval_minutes = 0;
  std::vector<ErrorRow> errors;
  std::vector<ConflictRow> conflicts;
  std::vector<HeldDeletion> deletions;  // held back by D10
  std::deque<Event> events;             // the newest few hundred
  Metrics metrics;
};

}  // namespace crmsync::status
