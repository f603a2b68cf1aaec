// Deletions: the D10 guard between prepare and the apply steps, and the deletion rules as
// the apply steps act on them (D1-D5, D11 for the store's removals, D6-D9 for CRM's). The
// rules themselves are rows in core/rules (deletion_rules.hpp); this file gathers their facts
// and does what they say.
#include "crmsync/core/deletion_rules.hpp"
#include "cycle_context.hpp"

namespace crmsync::cycle {
namespace {

// A deletion made on one side counts towards D10 until the user confirms; written in the
// batch that records the deletion as applied (C3: a crash loses both or neither).
void count_deletion(Cycle& c, std::int64_t& counter, std::string_view key) {
  if (c.allow_mass_delete) return;
  ++counter;
  c.must(c.cache.set_meta({{std::string(key), std::to_string(counter)}}));
}

// The item (if it is still there) keeps no CRM link; the pair is forgotten.
Result<void> unlink_store_item(Cycle& c, Mapping& m) {
  if (!m.entry_id.empty()) {
    auto item = c.store.get(m.entry_id);
    if (item.ok() && (item->link.tracked || item->link.crm_id)) {
      auto r = c.store.update(m.entry_id, item->change_key, {}, CrmLink{});
      if (!r.ok()) return r.error();
    } else if (!item.ok() && !item.error().is(ErrorKind::kNotFound)) {
      return item.error();
    }
  }
  ++c.report.unlinked;
  return c.cache.forget_mapping(m.map_id);
}

}  // namespace

// The guard counts the deletions pending now plus those made since the user last
// confirmed, kept across cycles and restarts: S3 records at most reconcile_batch missing
// items a cycle, so a vanished mailbox would otherwise reach CRM a slice at a time, each
// slice under the minimum. The share is of the items synced at the last confirmation
// (those linked now plus those deleted since).
void guard_mass_deletes(Cycle& c) {
  auto pending = c.must(c.cache.pending_deletions());
  std::int64_t linked = c.must(c.cache.linked_count());
  if (c.allow_mass_delete) {  // the user confirmed what was counted so far
    c.deleted_in_store = c.deleted_in_crm = 0;
    c.must(c.cache.set_meta({{std::string(kDeletedInStoreKey), std::nullopt},
                             {std::string(kDeletedInCrmKey), std::nullopt}}));
  } else {
    c.deleted_in_store = c.meta_int(kDeletedInStoreKey);
    c.deleted_in_crm = c.meta_int(kDeletedInCrmKey);
  }
  rules::MassDeleteFacts facts;
  facts.pending_in_store = pending.in_store;
  facts.pending_in_crm = pending.in_crm;
  facts.made_in_store = c.deleted_in_store;
  facts.made_in_crm = c.deleted_in_crm;
  facts.linked = linked;
  facts.ratio = c.settings.mass_delete_ratio;
  facts.min = c.settings.mass_delete_min;
  facts.confirmed = c.allow_mass_delete;
  const rules::MassDeleteVerdict verdict = rules::mass_delete_guard(facts);
  const std::int64_t base = verdict.base;
  c.hold_store_deletions = verdict.hold_store;
  c.hold_crm_deletions = verdict.hold_crm;
  c.must(c.cache.hold_deletions(Cache::Side::kStore, c.hold_store_deletions));
  c.must(c.cache.hold_deletions(Cache::Side::kCrm, c.hold_crm_deletions));
  auto notice = [&](std::int64_t held, std::int64_t made, std::string_view where) {
    c.report.held_deletions += held;
    std::string since =
        made > 0 ? " (and " + std::to_string(made) + " made since the last confirmation)" : "";
    c.report.notices.push_back(
        "D10: " + std::to_string(held) + " deletions in " + std::string(where) + " held back" +
        since + ": over " + std::to_string(int(c.settings.mass_delete_ratio * 100)) + "% of " +
        std::to_string(base) + " synced items; run a sync with --allow-mass-delete to apply them");
  };
  if (c.hold_store_deletions) notice(pending.in_store, c.deleted_in_store, "the mailbox");
  if (c.hold_crm_deletions) notice(pending.in_crm, c.deleted_in_crm, "CRM");
}

Result<void> apply_crm_removal(Cycle& c, const PendingChange& row, Mapping& m) {
  if (m.entry_id.empty()) {
    if (m.deleted_locally) return c.cache.forget_mapping(m.map_id);
    // X1: a crash after the store copy was created and before it was recorded leaves a
    // copy linked to the record: look it up, so that the deletion rules apply to it.
    auto found = c.store.find_by_crm_id(m.crm_id);
    if (!found.ok()) return found.error();
    if (!*found) return c.cache.forget_mapping(m.map_id);
    m.entry_id = (*found)->entry_id;
  }
  auto item = c.store.get(m.entry_id);
  if (!item.ok()) {
    if (!item.error().is(ErrorKind::kNotFound)) return item.error();
    return c.cache.forget_mapping(m.map_id);
  }
  const FieldMap& f = item->item.fields;
  rules::StoreFacts facts;
  facts.left_filter = row.crm_change == CrmChange::kLeftFilter;
  facts.user_owns = m.owner && *m.owner == c.me;
  if (m.entity == CrmEntity::kAppointment) {
    auto start = time_attr(f, "Start");
    facts.starts_in_future = start && *start > c.clock.now();
  }
  facts.was_open = m.crm_state.value_or(0) == 0;
  const bool delete_in_store =
      rules::on_crm_removal(m.entity, facts).action == rules::CrmAction::kDeleteInStore;
  if (delete_in_store) {
    auto r = c.store.remove(m.entry_id);
    if (!r.ok() && !r.error().is(ErrorKind::kNotFound)) return r.error();
    ++c.report.deleted_in_store;
    count_deletion(c, c.deleted_in_store, kDeletedInStoreKey);
  } else {
    auto r = c.store.update(m.entry_id, item->change_key, {}, CrmLink{});
    if (!r.ok()) return r.error();
    ++c.report.unlinked;
  }
  c.crash("crm-removal.store-written");
  return c.cache.forget_mapping(m.map_id);
}

Result<void> apply_store_removal(Cycle& c, const PendingChange& row, Mapping& m,
                                 StoreChange change) {
  if (row.crm_change == CrmChange::kDelete || row.crm_change == CrmChange::kLeftFilter) {
    // Gone on both sides. A record deleted by a run killed before it recorded that is seen
    // here as deleted in CRM when a fetch (the U4 sweep, a change token) finds it first:
    // D10 counts it as the replay below does.
    if (row.crm_change == CrmChange::kDelete && change != StoreChange::kUntrack && m.linked &&
        rules::needs_crm_record(m.entity))
      count_deletion(c, c.deleted_in_crm, kDeletedInCrmKey);
    return unlink_store_item(c, m);
  }
  const rules::StoreTrigger trigger = change == StoreChange::kDelete ? rules::StoreTrigger::kDelete
                                      : change == StoreChange::kUntrackDeleteInCrm
                                          ? rules::StoreTrigger::kUntrackDeleteInCrm
                                          : rules::StoreTrigger::kUntrack;
  rules::CrmFacts facts;
  if (rules::needs_crm_record(m.entity) && m.linked) {
    auto rec = c.crm.retrieve(m.entity, m.crm_id);
    if (!rec.ok() && !rec.error().is(ErrorKind::kNotFound)) return rec.error();
    // Gone already: perhaps deleted by a run killed before it recorded that (C3). D10 counts
    // it, so that a guard resumed after a crash never lets one more through than it would
    // have without the crash (counting one someone else deleted only holds sooner).
    if (!rec.ok() && trigger != rules::StoreTrigger::kUntrack)
      count_deletion(c, c.deleted_in_crm, kDeletedInCrmKey);
    if (rec.ok()) {
      auto start = time_attr(rec->attributes, "scheduledstart");
      facts.known = true;
      facts.open = is_open_state(m.entity, rec->attributes);
      facts.user_owns = rec->owner && *rec->owner == c.me;
      facts.user_organizes = party_has(rec->attributes, "organizer", c.me);
      facts.starts_in_future = start && *start > c.clock.now();
    }
  }
  const rules::StoreDecision decision = rules::on_store_removal(m.entity, trigger, facts);
  const bool delete_in_crm = decision.action == rules::StoreAction::kDeleteInCrm;
  if (delete_in_crm && m.linked) {
    if (c.hold_crm_deletions) return Ok();
    auto r = c.crm.remove(m.entity, m.crm_id);
    if (!r.ok() && !r.error().is(ErrorKind::kNotFound)) return r.error();
    ++c.report.deleted_in_crm;
    count_deletion(c, c.deleted_in_crm, kDeletedInCrmKey);
    c.crash("store-removal.crm-deleted");
  }
  if (decision.action == rules::StoreAction::kKeepDeletedLocally && m.linked) {
    // D1: keep the pair so the record is not brought back.
    m.deleted_locally = true;
    m.linked = false;
    m.entry_id = EntryId();
    m.original.reset();
    return c.cache.commit_applied(m, row.change_id, {});
  }
  return unlink_store_item(c, m);
}

}  // namespace crmsync::cycle
