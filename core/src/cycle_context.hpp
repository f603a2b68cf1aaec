// One sync cycle's shared state and the steps that work on it (private to crmsync_core).
// engine.cpp runs the steps in order; each step lives in its own file:
//
//   prepare_crm.cpp    identify (G5), CRM changes noted in the cache (R1, R3, U4, C5)
//   prepare_store.cpp  the handoff queue (P3), store events and the S2 scan (C5, T3, T5, X1)
//   deletions.cpp      the D10 guard and the deletion rules D1-D11 as the steps apply them
//   crm_to_store.cpp   CRM changes applied to the store, new items a page at a time (X1)
//   store_to_crm.cpp   store changes applied to CRM, creates a page at a time (E2, X1, U7)
//   email_parties.cpp  a tracked e-mail's parties and state (U7)
//   merge_write.cpp    a merge written to both sides (M1-M3, U6, C2, X2)
//   post.cpp           the pending watermarks and tokens take effect (R1)
//   reconcile.cpp      the oldest verified items checked (S3)
#pragma once

#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/core/engine.hpp"
#include "crmsync/core/merge.hpp"

namespace crmsync::cycle {

// Thrown inside a cycle to stop it; caught only by the engine's run_cycle.
struct Abort {
  Error error;
};

// ---- cache meta keys ------------------------------------------------------------------------

inline constexpr std::string_view kUserKey = "crm.user_id";
inline constexpr std::string_view kCursorKey = "store.event_cursor";
inline constexpr std::string_view kWatermarkKey = "store.watermark";
inline constexpr std::string_view kWatermarkPendingKey = "store.watermark.pending";
// D10: deletions made on each side since the user last confirmed (--allow-mass-delete).
inline constexpr std::string_view kDeletedInStoreKey = "d10.deleted_in_store";
inline constexpr std::string_view kDeletedInCrmKey = "d10.deleted_in_crm";
std::string token_key(CrmEntity e);
std::string modified_key(CrmEntity e);
std::string sweep_key(CrmEntity e);
// Values that take effect only at the post step (SPEC R1: tokens advance once applied).
std::string pending(const std::string& key);
// The earliest instant a watermark scan asks from: everything (0) or the mark minus a margin.
inline UtcTime scan_from(std::int64_t watermark, std::chrono::milliseconds margin) {
  return UtcTime{watermark == 0 ? std::numeric_limits<std::int64_t>::min() / 2
                                : watermark - margin.count()};
}

// ---- values ---------------------------------------------------------------------------------

bool same_fields(const FieldMap& a, const FieldMap& b);
std::optional<std::int64_t> int_attr(const FieldMap& m, std::string_view name);
std::optional<UtcTime> time_attr(const FieldMap& m, std::string_view name);
bool party_has(const FieldMap& attrs, std::string_view name, const CrmId& user);

// U7: a tracked e-mail is a completed activity: Sent from the sent items (outgoing), Received
// otherwise; never a draft (statuscode 1) or Pending Send (6), which CRM would send.
inline constexpr std::int64_t kEmailCompleted = 1;
inline constexpr std::int64_t kEmailSent = 3;
inline constexpr std::int64_t kEmailReceived = 4;
inline std::int64_t tracked_email_status(Folder folder) {
  return folder == Folder::kSentItems ? kEmailSent : kEmailReceived;
}

// ---- the cycle ------------------------------------------------------------------------------

// What one cycle shares: the cache and the adapters, the settings, this cycle's options and
// report, and what one step hands to a later one. Steps keep the page they work on themselves.
struct Cycle {
  Cycle(Cache& cache, StoreAdapter& store, CrmAdapter& crm, Clock& clock,
        const EngineSettings& settings, CrashPoints* crash_points,
        const std::function<void(const Progress&)>& progress, const CycleOptions& options);

  Cache& cache;
  StoreAdapter& store;
  CrmAdapter& crm;
  Clock& clock;
  const EngineSettings& settings;
  CrashPoints* crash_points;
  const std::function<void(const Progress&)>& progress;
  FixedOffsetZone utc{std::chrono::minutes(0)};

  // This cycle's options.
  bool allow_mass_delete = false;
  std::optional<std::set<EntryId>> only;  // T2: an immediate sync of these items
  Role role = Role::kPrimary;
  std::function<bool()> may_act;

  CycleReport report;
  CrmId me;                    // the CRM user (identify)
  bool sync_privilege = true;  // G5
  // D10: what the guard decided, and the deletions made since the last confirmation, read
  // from and kept in the cache.
  bool hold_store_deletions = false;
  bool hold_crm_deletions = false;
  std::int64_t deleted_in_store = 0;
  std::int64_t deleted_in_crm = 0;

  // ---- helpers every step uses ----

  MapContext ctx() const {
    return MapContext{settings.zone ? settings.zone : &utc, settings.update_company_field};
  }
  void crash(std::string_view point) {
    if (crash_points != nullptr) crash_points->hit(point);
  }
  // The value, or the cycle ends with the error (E3: prepare, post and reconcile cannot go on
  // without what they asked for).
  template <class T>
  T must(Result<T> r) {
    if (!r.ok()) throw Abort{r.error()};
    return std::move(r.value());
  }
  void must(Result<void> r) {
    if (!r.ok()) throw Abort{r.error()};
  }
  // Groups cache writes (Cache::begin_batch): one commit per page instead of one per item.
  void batch() {
    if (!cache.in_batch()) must(cache.begin_batch());
  }
  void commit() { must(cache.commit_batch()); }
  // What was written so far must survive a crash before the next external write (M3).
  Result<void> make_durable();
  // Records `value` for `key` to take effect at the post step (R1), unless it would change
  // nothing: a cycle that finds nothing new writes nothing (issue #8's no-op sync).
  void set_pending(const std::string& key, const std::string& value);
  std::int64_t meta_int(std::string_view key);
  void step(std::string_view name, std::int64_t done, std::int64_t total) {
    if (progress) progress(Progress{std::string(name), done, total});
  }
  bool primary_like() const { return role == Role::kPrimary || role == Role::kRoaming; }
  // T2: whether an immediate sync covers this item (every item otherwise).
  bool wanted(const EntryId& id) const { return !only || only->count(id) > 0; }
  // P1: a primary stops once its lease may have expired.
  void check_lease();
  void count(CrmEntity e, std::string_view direction) {
    ++report.synced[std::string(to_string(e)) + ":" + std::string(direction)];
  }

  // An item failed: it keeps its change with the reason and a backoff (E1); an error whose
  // retry class is not the item's own ends the cycle as well (E3).
  void item_failed(const PendingChange& row, const Error& e);
  // The same for one item of a batch: the first error that ends the cycle is kept in `stop`,
  // thrown once every item of the batch is recorded.
  void batch_item_failed(const PendingChange& row, const Error& e, std::optional<Error>& stop);

  // R2: contacts owned by the user; activities owned by the user or with the user as a party.
  bool in_filter(const CrmRecord& rec) const;
  // G1, G5: CRM -> store for this entity (e-mail: G1 only; tracking is not a CRM -> store
  // sync, and G5 leaves e-mail alone).
  bool crm_to_store_on(CrmEntity entity) const;
  // The link an item carries once its pair is synced (X1: the record's id, nothing pending).
  CrmLink tracked_link(const Mapping& m) const;

  // One result per id, in order (get_many); a store that answers with another count ends the
  // cycle.
  std::vector<Result<StoreItem>> read_all(const std::vector<EntryId>& ids);

  // Calls fn for each due change row, a page of rows at a time, the page's records committed
  // together: a crash loses them all, and the restart redoes each item from its change row (X1
  // finds the copies already made). page_start runs before the page's rows, page_end after
  // them (before the commit), for work gathered across the page.
  void for_each_pending(
      std::string_view step_name, const std::function<void(const PendingChange&, Mapping&)>& fn,
      const std::function<void(const std::vector<PendingChange>&)>& page_start = {},
      const std::function<void()>& page_end = {});

  // C5 -> crm_to_store: prepare maps a changed record of a synced pair to store fields to tell
  // news from our own write coming back; the crm_to_store step takes those fields instead of
  // mapping the record again, so a record goes through crm_to_store() once a cycle. Kept only
  // for a record with a row version (the change row must still hold that very version) and
  // for at most a page of records: past that, a record is mapped again.
  void keep_mapped(const CrmRecord& rec, FieldMap fields);
  std::optional<FieldMap> take_mapped(const CrmRecord& rec);

 private:
  struct Mapped {
    std::string row_version;
    UtcTime modified_on;
    FieldMap fields;
  };
  std::map<CrmId, Mapped> mapped_;
};

// ---- the steps, in the order the engine runs them ----------------------------------------

void identify(Cycle& c);            // prepare_crm.cpp
void prepare_crm(Cycle& c);         // prepare_crm.cpp
void prepare_store(Cycle& c);       // prepare_store.cpp
void guard_mass_deletes(Cycle& c);  // deletions.cpp
void crm_to_store_step(Cycle& c);   // crm_to_store.cpp
void store_to_crm_step(Cycle& c);   // store_to_crm.cpp
void post(Cycle& c);                // post.cpp
void reconcile(Cycle& c);           // reconcile.cpp

// ---- shared by the two apply steps ----------------------------------------------------------

// deletions.cpp. D6-D9: a record deleted in CRM, or one that left the filter (R2).
Result<void> apply_crm_removal(Cycle& c, const PendingChange& row, Mapping& m);
// deletions.cpp. D1-D5, D11: the user deleted or untracked an item in the store.
Result<void> apply_store_removal(Cycle& c, const PendingChange& row, Mapping& m,
                                 StoreChange change);

using MergeFn = MergeOutcome (*)(const MergeInput&);
// merge_write.cpp. Merges `in` and writes the outcome to both sides, then records it.
Result<void> write_merge(Cycle& c, const PendingChange& row, Mapping& m, const StoreItem& item,
                         const CrmRecord& rec, const MergeInput& in,
                         const std::optional<CrmLink>& link, MergeFn merge = merge_fields);

}  // namespace crmsync::cycle
