// A merge written to both sides (SPEC M1-M3 through core/merge, U6's conditional CRM update,
// C2 and X2: recorded as applied in the same transaction that removes its change row). Both
// apply steps end here when both sides hold the item.
#include <algorithm>

#include "cycle_context.hpp"

namespace crmsync::cycle {
namespace {

// U6: conditional CRM updates a merge tries before the item waits for a later cycle (E1).
constexpr int kCrmWriteAttempts = 3;

std::vector<ConflictRecord> conflict_records(const MergeOutcome& out, UtcTime at) {
  std::vector<ConflictRecord> records;
  for (const auto& conflict : out.conflicts) {
    ConflictRecord r;
    r.field = conflict.field;
    r.store_value = conflict.store_value;
    r.crm_value = conflict.crm_value;
    r.winner = conflict.crm_won ? "crm" : "store";
    r.at = at;
    records.push_back(std::move(r));
  }
  return records;
}

// M3, C3: the losing values are kept before either side is overwritten; after a crash in
// between, the replayed merge sees both sides equal and would not know them.
Result<void> keep_conflicts(Cycle& c, Mapping& m, const std::vector<ConflictRecord>& conflicts) {
  if (conflicts.empty()) return Ok();
  CRMSYNC_TRY(c.cache.commit_applied(m, 0, conflicts));
  return c.make_durable();
}

}  // namespace

// The outcome goes to the store first, then to CRM (M2), then it is recorded (C2, X2). The
// CRM update is conditional on the row version `rec` was read with (U6): when CRM moved
// meanwhile, the record is read again and merged again with the store side as the user left
// it, and the store gets what that merge changes; at most kCrmWriteAttempts times, then the
// item stays pending (E1). CRM is never overwritten blind.
Result<void> write_merge(Cycle& c, const PendingChange& row, Mapping& m, const StoreItem& item,
                         const CrmRecord& rec, const MergeInput& in,
                         const std::optional<CrmLink>& link, MergeFn merge) {
  MergeOutcome out = merge(in);
  std::vector<ConflictRecord> conflicts = conflict_records(out, c.clock.now());
  CRMSYNC_TRY(keep_conflicts(c, m, conflicts));
  std::string key = item.change_key;
  // The item must end up tracked, with the record's id and no pending create (X1).
  std::optional<CrmLink> set_link = link;
  if (!set_link && item.link != c.tracked_link(m)) set_link = c.tracked_link(m);
  bool counted = false;  // in report.to_store
  auto count_store_write = [&] {
    if (counted) return;
    counted = true;
    ++c.report.to_store;
    c.count(m.entity, "crm-to-store");
  };
  if (!out.to_store.empty() || set_link) {
    auto r = c.store.update(item.entry_id, item.change_key, out.to_store, set_link);
    if (!r.ok()) return r.error().context("store item " + item.entry_id.str());
    key = *r;
    if (!out.to_store.empty()) count_store_write();
    c.crash("merge.store-written");
  }
  const std::string what = std::string(to_string(m.entity)) + " " + m.crm_id.str();
  CrmRecord current = rec;
  FieldMap in_store = out.to_store;  // the store fields this merge has written so far
  FieldMap attrs;
  // A record read without a version (a change noted before U6) is read again first; a
  // server that sends none gets the update without a condition.
  bool reread = current.row_version.empty();
  for (int tries = 0;;) {
    attrs.clear();
    if (!out.to_crm.empty()) {
      auto a = store_to_crm(m.entity, out.to_crm, current.attributes, c.ctx());
      if (!a.ok()) return a.error();
      attrs = std::move(*a);
    }
    if (attrs.empty()) break;
    if (!reread) {
      auto r = c.crm.update(m.entity, m.crm_id, attrs, current.row_version);
      if (r.ok()) {
        ++c.report.to_crm;
        c.count(m.entity, "store-to-crm");
        c.crash("merge.crm-written");
        break;
      }
      if (!r.error().is(ErrorKind::kConflict)) return r.error().context(what);
      if (++tries >= kCrmWriteAttempts)
        return Error::Conflict(what + ": the record changed in CRM again at each of " +
                               std::to_string(kCrmWriteAttempts) +
                               " attempts to write the merge; it waits for the next sync (" +
                               r.error().message() + ")");
    }
    reread = false;
    auto fresh = c.crm.retrieve(m.entity, m.crm_id);
    if (!fresh.ok()) return fresh.error().context(what);
    auto conv = crm_to_store(m.entity, fresh->attributes, c.ctx());
    if (!conv.ok()) return conv.error().context("CRM " + what);
    MergeInput again = in;
    again.crm = &*conv;
    again.crm_modified = fresh->modified_on;
    MergeOutcome next = merge(again);
    std::vector<ConflictRecord> found;
    for (auto& conflict : conflict_records(next, c.clock.now())) {
      bool known = std::any_of(conflicts.begin(), conflicts.end(), [&](const auto& k) {
        return k.field == conflict.field && equivalent(k.store_value, conflict.store_value) &&
               equivalent(k.crm_value, conflict.crm_value);
      });
      if (!known) found.push_back(std::move(conflict));
    }
    CRMSYNC_TRY(keep_conflicts(c, m, found));
    conflicts.insert(conflicts.end(), found.begin(), found.end());
    // The store holds the user's values but where this merge wrote; it must hold them but
    // where the new merge writes (a field whose CRM change was undone meanwhile goes back).
    auto user_value = [&](const std::string& name) {
      auto it = in.store->find(name);
      return it == in.store->end() ? Value{} : it->second;
    };
    FieldMap fix;
    for (const FieldMap* fields : {&in_store, &next.to_store})
      for (const auto& field : *fields) {
        const std::string& name = field.first;
        auto w = next.to_store.find(name);
        Value want = w != next.to_store.end() ? w->second : user_value(name);
        auto h = in_store.find(name);
        Value have = h != in_store.end() ? h->second : user_value(name);
        if (!equivalent(want, have)) fix.insert_or_assign(name, want);
      }
    if (!fix.empty()) {
      auto r = c.store.update(item.entry_id, key, fix, std::nullopt);
      if (!r.ok()) return r.error().context("store item " + item.entry_id.str());
      key = *r;
      count_store_write();
      for (const auto& [name, value] : fix) in_store.insert_or_assign(name, value);
    }
    current = std::move(*fresh);
    out = std::move(next);
  }
  c.report.conflicts += static_cast<std::int64_t>(conflicts.size());
  m.entry_id = item.entry_id;
  m.original = out.merged;
  m.store_change_key = key;
  m.linked = true;
  m.create_pending = false;
  if (current.owner) m.owner = current.owner;
  if (auto s = int_attr(attrs, "statecode"))
    m.crm_state = s;
  else if (auto s2 = int_attr(current.attributes, "statecode"))
    m.crm_state = s2;
  return c.cache.commit_applied(m, row.change_id, {});
}

}  // namespace crmsync::cycle
