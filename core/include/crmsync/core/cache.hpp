// The sync cache (SPEC §1): one SQLite file per profile holding the id mapping, the change
// table, the original states, tokens and watermarks, conflicts. The only owner of the
// cache's connection: every method is one transaction, and no SQL lives outside it.
// Not thread-safe: the sync worker owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/core/store_adapter.hpp"

namespace crmsync {

// What happened on the store side of a pair since it was last synced.
enum class StoreChange {
  kNone,
  kCreate,              // a newly tracked item: create the record (SPEC X1)
  kUpdate,              // fields changed, or the link (regarding) changed
  kDelete,              // the item was deleted
  kUntrack,             // the user untracked it
  kUntrackDeleteInCrm,  // untracked with "delete in CRM"
};
// What happened on the CRM side.
enum class CrmChange {
  kNone,
  kUpsert,      // created or updated (the record is kept with the change)
  kDelete,      // deleted in CRM
  kLeftFilter,  // no longer owned by / shared with the user (SPEC R2): deleted for the store
};
std::string_view to_string(StoreChange c);
std::string_view to_string(CrmChange c);

// One row of id_mapping.
struct Mapping {
  MapId map_id;
  CrmId crm_id;
  EntryId entry_id;  // empty while the store item does not exist yet
  CrmEntity entity = CrmEntity::kContact;
  bool linked = false;               // the pair is in sync (original state valid)
  bool deleted_locally = false;      // SPEC D1: never bring the record back into the store
  bool visited = false;              // seen by the current cycle's filter evaluation (R2)
  bool manually_tracked = false;     // tracked by hand from the store: stays linked out of filter
  bool create_pending = false;       // the CRM create was intended but not yet confirmed (X1)
  UtcTime verified_time;             // when reconciliation last saw the store item (S3)
  std::optional<FieldMap> original;  // store-side field values as last synced (C2)
  std::string store_change_key;      // the change key of the daemon's last store write (C5)
  std::optional<CrmId> owner;        // the record's owner as last seen (D4, D6)
  std::optional<std::int64_t> crm_state;  // the record's statecode as last seen (D3, D4, D8)
};

// One pending row of sync_changes, joined with what the engine needs.
struct PendingChange {
  std::int64_t change_id = 0;
  MapId map_id;
  StoreChange store_change = StoreChange::kNone;
  UtcTime store_timestamp;
  Surface surface = Surface::kNone;  // where the store change was made (T2)
  CrmChange crm_change = CrmChange::kNone;
  UtcTime crm_timestamp;
  std::optional<CrmRecord> crm_record;  // the record as CRM sent it, for kUpsert
  int attempts = 0;
  UtcTime next_attempt;  // do not retry before this (E1 backoff)
  std::string last_error;
  bool held = false;  // held back by the mass-delete guard (D10)
};

// Merges into the one pending row of a mapping: set sides replace what was there.
struct ChangeNote {
  std::optional<StoreChange> store;
  UtcTime store_timestamp;
  Surface surface = Surface::kNone;
  std::optional<CrmChange> crm;
  UtcTime crm_timestamp;
  std::optional<CrmRecord> crm_record;
};

struct ConflictRecord {
  std::int64_t conflict_id = 0;
  MapId map_id;
  CrmEntity entity = CrmEntity::kContact;
  CrmId crm_id;
  EntryId entry_id;
  std::string field;
  Value store_value;
  Value crm_value;
  std::string winner;  // "store" or "crm"
  UtcTime at;
  // The field's value in the merge's base (the original state), as the cache records it from
  // the mapping it keeps the conflict with; nullopt for records older than that (read only).
  std::optional<Value> base_value;
};

struct ItemError {
  MapId map_id;
  CrmEntity entity = CrmEntity::kContact;
  CrmId crm_id;
  EntryId entry_id;
  std::string error;
  int attempts = 0;
  UtcTime next_attempt;
};

struct EntityCounts {
  std::int64_t mapped = 0;   // linked pairs
  std::int64_t pending = 0;  // change rows waiting
  std::int64_t errors = 0;   // change rows whose last attempt failed
  std::int64_t held = 0;     // deletions held back (D10)
};

class Cache {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens or creates the cache; migrates an older schema forward; refuses (kCorrupt) a
  // newer one without touching the file (SPEC C4).
  static Result<std::unique_ptr<Cache>> open(const std::string& path);
  virtual ~Cache() = default;

  virtual Result<std::optional<Mapping>> mapping(MapId id) = 0;
  virtual Result<std::optional<Mapping>> mapping_by_crm_id(const CrmId& id) = 0;
  virtual Result<std::optional<Mapping>> mapping_by_entry_id(const EntryId& id) = 0;
  // Only the store change key of the item's mapping (no original state parsed): what the
  // modified-since scan compares for every item it lists (S2, C5).
  virtual Result<std::optional<std::string>> store_change_key_of(const EntryId& id) = 0;

  // Inserts a mapping and, when given, its first change, in one transaction (the X1 intent).
  virtual Result<MapId> insert_mapping(const Mapping& m,
                                       const std::optional<ChangeNote>& change) = 0;
  // Saves every column of an existing mapping.
  virtual Result<void> save_mapping(const Mapping& m) = 0;
  // Adds or merges the pending change of a mapping (SPEC S1, R1).
  virtual Result<void> note_change(MapId id, const ChangeNote& change) = 0;

  // Records a change as applied: saves the mapping, removes the change row (none when
  // change_id is 0) and keeps the conflicts (one already kept for the same map id, field,
  // values and winner is not added again), in one transaction (SPEC C2, X2, M3). Each
  // conflict's base is the field's value in `m.original` (the engine keeps conflicts before the
  // merge's result becomes the original state), null without one.
  virtual Result<void> commit_applied(const Mapping& m, std::int64_t change_id,
                                      const std::vector<ConflictRecord>& conflicts) = 0;
  // Forgets a pair (unlinked or gone on both sides) and its pending change, in one transaction.
  virtual Result<void> forget_mapping(MapId id) = 0;

  // Pending changes with change_id > after, oldest first, at most `limit`.
  virtual Result<std::vector<PendingChange>> pending_changes(std::int64_t after,
                                                             std::size_t limit) = 0;
  virtual Result<std::optional<PendingChange>> pending_change_of(MapId id) = 0;
  // Keeps the row, with the reason and the time of the next attempt (SPEC E1).
  virtual Result<void> record_failure(std::int64_t change_id, const std::string& reason,
                                      UtcTime next_attempt) = 0;
  virtual Result<void> set_held(std::int64_t change_id, bool held) = 0;

  // D10: pending changes that may delete on each side. Store side: CRM deletions and
  // records that left the filter (e-mails never delete in the store). CRM side: untracks
  // with "delete in CRM" and deletions of activities (contacts and e-mails deleted in the
  // store never delete in CRM, D1, D5).
  struct DeletionCounts {
    std::int64_t in_store = 0;
    std::int64_t in_crm = 0;
  };
  virtual Result<DeletionCounts> pending_deletions() = 0;
  // Holds back (or releases) every pending deletion of one side, in one transaction.
  enum class Side { kStore, kCrm };
  virtual Result<void> hold_deletions(Side side, bool held) = 0;
  // Linked pairs, all entities (the base of the D10 share).
  virtual Result<std::int64_t> linked_count() = 0;

  // Small named values: CRM tokens, the scan watermark, the event cursor, settings.
  virtual Result<std::optional<std::string>> get_meta(const std::string& key) = 0;
  // Sets several values in one transaction (a null value erases the key).
  virtual Result<void> set_meta(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& values) = 0;

  // Linked mappings with the oldest verified_time first (SPEC S3).
  virtual Result<std::vector<Mapping>> oldest_verified(std::size_t limit) = 0;
  virtual Result<void> set_verified(MapId id, UtcTime at) = 0;
  // All mappings of an entity (for sweeps and tests).
  virtual Result<std::vector<Mapping>> mappings(std::optional<CrmEntity> entity) = 0;

  virtual Result<std::vector<ConflictRecord>> conflicts(std::size_t limit) = 0;
  virtual Result<std::vector<ItemError>> errors(std::size_t limit) = 0;
  virtual Result<std::vector<std::pair<CrmEntity, EntityCounts>>> counts() = 0;
  virtual Result<std::int64_t> conflict_count() = 0;

  // ---- SPEC U2: the user's decisions (cache_decisions.cpp) ----
  // One conflict record, or none.
  virtual Result<std::optional<ConflictRecord>> conflict(std::int64_t conflict_id) = 0;
  // Removes a conflict record (the user settled it); false when there was none.
  virtual Result<bool> drop_conflict(std::int64_t conflict_id) = 0;
  // The pair's pending change becomes due now (E1's backoff skipped, the last error kept
  // until the next attempt); false when the pair has none.
  virtual Result<bool> retry_change_now(MapId id) = 0;
  // Drops the pair's pending change (the user ignores it); false when the pair has none.
  virtual Result<bool> drop_change(MapId id) = 0;
  // The pairs whose pending change may delete on `side` (pending_deletions counts them),
  // oldest change first, at most `limit`: what the D10 guard holds when it holds that side.
  virtual Result<std::vector<MapId>> pending_deletion_pairs(Side side, std::size_t limit) = 0;

  // PRAGMA integrity_check: "ok" or the problems.
  virtual Result<std::string> integrity_check() = 0;

  // Groups the writes that follow into one transaction until commit_batch(); each write
  // stays atomic inside it. A crash before commit_batch() loses the group's records together,
  // so the engine opens a batch only over work that it redoes idempotently from the change
  // rows (X1 finds the copies it made) and commits before any write whose safety needs the
  // cache first (C3). One commit per batch instead of one per item: the initial sync's cost.
  virtual Result<void> begin_batch() = 0;
  virtual Result<void> commit_batch() = 0;  // no-op without a batch
  virtual void rollback_batch() = 0;        // as if the process had died; no-op without one
  virtual bool in_batch() const = 0;
};

}  // namespace crmsync
