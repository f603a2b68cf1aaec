// The worker's side of the user's decisions (SPEC U2; private to crmsync_service): each is
// acted on, on the worker thread between cycles, with the rules of the seed's button it
// replaces. track, untrack and set regarding go into the store's change log as the explorer's
// (record_decision), so that the engine applies them and T2 times them; the others act on the
// cache and the store here, or ask the worker for a cycle (confirming held deletions, retrying
// an item). Every refusal is a 4xx answer that changed nothing.
#pragma once

#include <optional>
#include <vector>

#include "crmsync/core/engine.hpp"
#include "crmsync/runtime/runtime.hpp"
#include "crmsync/status/state.hpp"

namespace crmsync::service {

struct DecisionContext {
  Role role = Role::kPrimary;  // as the worker acts now (a primary without the lease: secondary)
  std::string profile;
  double mass_delete_ratio = 0.5;  // D10, as the engine's
  std::int64_t mass_delete_min = 20;
};

// What a decision asks of the worker once acted on.
struct DecisionOutcome {
  status::DecisionReply reply;        // the answer, unless a cycle comes first
  std::optional<CycleOptions> cycle;  // a cycle to run now; answer with cycle_reply()
  bool full_sync = false;             // queue a manual full sync and answer 202 with its id
  std::vector<std::int64_t> ids;      // the held deletions a confirmation's cycle applies
};

DecisionOutcome act_on_decision(Runtime& rt, const status::Decision& d, const DecisionContext& ctx);

// The answer to a decision that ran a cycle, or queued a sync (`request` its id).
status::DecisionReply cycle_reply(const status::Decision& d, const DecisionOutcome& outcome,
                                  const status::CycleInfo& cycle);
status::DecisionReply queued_reply(const status::Decision& d, std::int64_t request);

// The deletions the D10 guard holds back: those of each side its verdict holds now (the cycle
// that held them, or the next one), at most `limit`.
Result<std::vector<status::HeldDeletion>> held_deletions(Cache& cache, const DecisionContext& ctx,
                                                         std::size_t limit);

std::string_view to_string(status::Decision::Type t);

// {"error": message} with `status`.
status::DecisionReply refusal(int status, const std::string& message);

}  // namespace crmsync::service
