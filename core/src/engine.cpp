// The cycle of DESIGN.md, step by step over one cycle context (cycle_context.hpp): each step
// is a room of its own; this file only runs them in order and turns a stop into the report.
#include "crmsync/core/engine.hpp"

#include "cycle_context.hpp"

namespace crmsync {

std::string_view to_string(CycleResult r) {
  switch (r) {
    case CycleResult::kOk:
      return "ok";
    case CycleResult::kItemErrors:
      return "item-errors";
    case CycleResult::kMassDeleteHeld:
      return "mass-delete-held";
    case CycleResult::kFailed:
      return "failed";
  }
  return "?";
}

struct Engine::Impl {
  Cache& cache;
  StoreAdapter& store;
  CrmAdapter& crm;
  Clock& clock;
  EngineSettings settings;
  CrashPoints* crash_points;
  std::function<void(const Progress&)> progress;

  CycleReport run(const CycleOptions& options) {
    cycle::Cycle c(cache, store, crm, clock, settings, crash_points, progress, options);
    c.report.started = clock.now();
    try {
      cycle::identify(c);
      c.step("prepare", 0, 0);
      cycle::prepare_crm(c);
      cycle::prepare_store(c);
      cycle::guard_mass_deletes(c);
      cycle::crm_to_store_step(c);
      cycle::store_to_crm_step(c);
      if (!c.only) {
        cycle::post(c);
        cycle::reconcile(c);
      }
    } catch (cycle::Abort& abort) {
      // What the open batch holds is finished work: keep it.
      (void)cache.commit_batch();
      c.report.result = CycleResult::kFailed;
      c.report.failure = abort.error;
    } catch (...) {
      cache.rollback_batch();  // as a killed process would lose it; the cache stays usable
      throw;
    }
    if (c.report.result != CycleResult::kFailed) {
      if (c.report.held_deletions > 0)
        c.report.result = CycleResult::kMassDeleteHeld;
      else if (c.report.item_errors > 0)
        c.report.result = CycleResult::kItemErrors;
    }
    c.report.finished = clock.now();
    return std::move(c.report);
  }
};

Engine::Engine(Cache& cache, StoreAdapter& store, CrmAdapter& crm, Clock& clock,
               EngineSettings settings, CrashPoints* crash_points)
    : impl_(std::make_unique<Impl>(
          Impl{cache, store, crm, clock, std::move(settings), crash_points, {}})) {}
Engine::~Engine() = default;

CycleReport Engine::run_cycle(const CycleOptions& options) {
  return impl_->run(options);
}
void Engine::on_progress(std::function<void(const Progress&)> sink) {
  impl_->progress = std::move(sink);
}
const EngineSettings& Engine::settings() const {
  return impl_->settings;
}
void Engine::set_settings(EngineSettings settings) {
  impl_->settings = std::move(settings);
}

}  // namespace crmsync
