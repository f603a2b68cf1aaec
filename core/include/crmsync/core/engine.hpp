// The sync engine: one cycle of DESIGN.md (prepare, CRM -> store, store -> CRM, post,
// reconcile) with every rule of SPEC.md. Library code: it reaches the store and the CRM
// only through their adapters and keeps all state in the cache, so a crash at any point
// resumes where it stopped (SPEC C3). Not thread-safe: one cycle at a time, on the thread
// that owns the cache.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/core/cache.hpp"
#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/core/policy.hpp"
#include "crmsync/core/store_adapter.hpp"
#include "crmsync/model/clock.hpp"
#include "crmsync/model/cycle_summary.hpp"
#include "crmsync/model/timezone.hpp"

namespace crmsync {

struct EngineSettings {
  Role role = Role::kPrimary;
  std::string client_id = "client";    // names this client in the handoff queue
  std::map<CrmEntity, bool> entities;  // G1: false = no CRM -> store for that entity
  bool update_company_field = true;    // G2
  std::size_t reconcile_batch = 50;    // S3
  double mass_delete_ratio = 0.5;      // D10
  std::int64_t mass_delete_min = 20;   // D10
  std::chrono::milliseconds scan_margin{std::chrono::minutes(2)};        // S2
  std::chrono::milliseconds crm_sweep_interval{std::chrono::hours(24)};  // R3
  // U4: how far the CRM-side modifiedon floor trails the newest stamp seen (a late commit,
  // a stamp stepped ahead); records inside it are fetched again and skipped by row version.
  std::chrono::milliseconds crm_watermark_margin{std::chrono::minutes(2)};
  std::size_t page_size = 500;  // rows of the change table handled per batch
  // U4: the user's Outlook filters pick what syncs (sync.user_filters); false: R2's fixed
  // test (owned by the user, or a party) over the organization's change tracking.
  bool user_filters = true;
  const TimeZone* zone = nullptr;  // task dates; UTC when null

  bool entity_enabled(CrmEntity e) const {
    auto it = entities.find(e);
    return it == entities.end() || it->second;
  }
};

// Named points where a test may stop the engine as if the process died (STYLE.md 10).
// Production passes none. A test's implementation throws from hit(); the engine never
// catches it, and what was committed to the cache and the adapters stays.
class CrashPoints {
 public:
  virtual ~CrashPoints() = default;
  virtual void hit(std::string_view point) = 0;
};

struct Progress {
  std::string step;  // "prepare", "crm-to-store", "store-to-crm", "post", "reconcile"
  std::int64_t done = 0;
  std::int64_t total = 0;
};

struct CycleOptions {
  bool allow_mass_delete = false;  // D10 confirmation
  // An immediate sync (T2): only these store items; no CRM changes are fetched.
  std::optional<std::vector<EntryId>> only_items;
  // The role for this cycle when it differs from the configured one: a primary-role client
  // that does not hold the lease acts as a secondary (SPEC P1-P3).
  std::optional<Role> role;
  // Asked before every item a primary applies: false once the lease may have expired
  // (P1); the cycle then stops. Empty = always true.
  std::function<bool()> may_act_as_primary;
};

enum class CycleResult {
  kOk,
  kItemErrors,      // finished; some items failed and stay pending (E1)
  kMassDeleteHeld,  // finished; deletions held back by the guard (D10)
  kFailed,          // stopped: the store or the CRM is unreachable or refused (E3)
};
std::string_view to_string(CycleResult r);

// The counts and notices are the CycleSummary's (the daemon's status keeps that part as is).
struct CycleReport : CycleSummary {
  CycleResult result = CycleResult::kOk;
  std::optional<Error> failure;  // why the cycle stopped (kFailed)
  UtcTime started;
  UtcTime finished;
};

class Engine {
 public:
  Engine(Cache& cache, StoreAdapter& store, CrmAdapter& crm, Clock& clock, EngineSettings settings,
         CrashPoints* crash_points = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs one cycle. Errors of single items are kept in the cache and counted; a failure
  // of the store or the CRM as a whole ends the cycle with kFailed (state stays resumable).
  CycleReport run_cycle(const CycleOptions& options = {});

  // Called while a cycle runs, from the cycle's thread.
  void on_progress(std::function<void(const Progress&)> sink);

  const EngineSettings& settings() const;
  void set_settings(EngineSettings settings);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crmsync
