#include "crmsync/core/lease.hpp"

namespace crmsync {

QueuedChange to_queued(const StoreEvent& event, const std::string& client_id) {
  QueuedChange q;
  q.client_id = client_id;
  q.kind = event.kind;
  q.entry_id = event.entry_id;
  q.action = event.action;
  q.delete_in_crm = event.delete_in_crm;
  q.at = event.at;
  return q;
}

StoreEvent to_event(const QueuedChange& change) {
  StoreEvent ev;
  ev.kind = change.kind;
  ev.entry_id = change.entry_id;
  ev.action = change.action;
  ev.delete_in_crm = change.delete_in_crm;
  ev.at = change.at;
  return ev;
}

LeaseKeeper::LeaseKeeper(LeaseStore& store, Clock& clock, std::string client_id, Role role,
                         std::chrono::milliseconds ttl, std::chrono::milliseconds max_skew)
    : store_(store),
      clock_(clock),
      client_id_(std::move(client_id)),
      role_(role),
      ttl_(ttl),
      skew_(max_skew) {}

bool LeaseKeeper::may_act_as_primary() const {
  if (role_ == Role::kRoaming) return true;
  return act_until_ && clock_.mono() < *act_until_;
}

Result<LeaseState> LeaseKeeper::tick() {
  const MonoTime started = clock_.mono();
  auto current = store_.read_lease();
  if (!current.ok()) return current.error();
  version_ = current->version;
  state_.record = current->record;
  if (state_.record.holder != last_holder_) {
    if (!last_holder_.empty() || !state_.record.holder.empty()) ++state_.changes;
    last_holder_ = state_.record.holder;
  }
  const bool mine = state_.record.holder == client_id_;
  // Others' leases count as expired only past expiry plus the allowed skew between clocks.
  const bool free =
      state_.record.holder.empty() || clock_.now().ms > state_.record.expires.ms + skew_.count();
  const bool want = role_ == Role::kPrimary;
  if (!want || (!mine && !free)) {
    if (!mine) act_until_.reset();
    state_.held = may_act_as_primary() && role_ != Role::kRoaming ? mine : false;
    return state_;
  }
  LeaseRecord next;
  next.holder = client_id_;
  next.epoch = mine ? state_.record.epoch : state_.record.epoch + 1;
  next.expires = UtcTime{clock_.now().ms + ttl_.count()};
  auto written = store_.write_lease(version_, next);
  if (!written.ok()) {
    // Lost a race (kConflict) or the store failed: our old deadline still stands.
    state_.held = may_act_as_primary() && mine;
    return written.error().is(ErrorKind::kConflict) ? Result<LeaseState>(state_)
                                                    : Result<LeaseState>(written.error());
  }
  version_ = *written;
  state_.record = next;
  if (last_holder_ != client_id_) {
    ++state_.changes;
    last_holder_ = client_id_;
  }
  // Measured from before the read: the lease cannot have expired anywhere before this.
  act_until_ = started + ttl_ - skew_;
  state_.held = true;
  return state_;
}

Result<void> LeaseKeeper::release() {
  act_until_.reset();
  state_.held = false;
  if (state_.record.holder != client_id_) return Ok();
  LeaseRecord next = state_.record;
  next.holder.clear();
  next.expires = clock_.now();
  auto written = store_.write_lease(version_, next);
  if (!written.ok() && !written.error().is(ErrorKind::kConflict)) return written.error();
  if (written.ok()) {
    version_ = *written;
    state_.record = next;
  }
  return Ok();
}

}  // namespace crmsync
