// SyncWorker's side of the user's decisions (SPEC U2): queued from the endpoint's thread,
// acted on (decisions.cpp) by the worker thread between cycles.
#include <spdlog/spdlog.h>

#include "crmsync/service/worker.hpp"
#include "decisions.hpp"
#include "stop_requested.hpp"

namespace crmsync::service {

void SyncWorker::decide(const status::Decision& decision,
                        std::function<void(const status::DecisionReply&)> done) {
  {
    std::lock_guard lock(mutex_);
    decisions_.push_back({decision, std::move(done)});
  }
  cv_.notify_all();
}

DecisionContext SyncWorker::decision_context() const {
  return {acting_role(), config_.profile, config_.sync.mass_delete_ratio,
          config_.sync.mass_delete_min};
}

Role SyncWorker::acting_role() const {
  if (lease_ && config_.role == Role::kPrimary && !lease_->may_act_as_primary())
    return Role::kSecondary;
  return config_.role;
}

// SPEC U2: one decision of the user's. A cycle it asks for runs now (the user waits for its
// answer); a stop requested meanwhile answers 503 and stops as a cycle does.
void SyncWorker::act(PendingDecision p) {
  const auto& d = p.decision;
  spdlog::info("decision: {}", to_string(d.type));
  DecisionOutcome out = act_on_decision(*runtime_, d, decision_context());
  status::DecisionReply reply = std::move(out.reply);
  if (out.cycle) {
    try {
      reply = cycle_reply(d, out, run(*out.cycle, false, {}));
    } catch (const StopRequested&) {
      p.done(refusal(503, "the daemon is stopping; the cycle resumes at the next start"));
      throw;
    }
  } else if (out.full_sync) {
    reply = queued_reply(d, request_sync({}, nullptr));
  } else if (d.type != status::Decision::Type::kItems &&
             d.type != status::Decision::Type::kFindRegarding) {
    refresh_counts();  // the status shows what the decision changed
  }
  if (reply.status >= 400)
    spdlog::info("decision {} refused ({}): {}", to_string(d.type), reply.status, reply.body);
  p.done(reply);
}

}  // namespace crmsync::service
