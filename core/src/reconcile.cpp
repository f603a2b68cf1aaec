// Step 5 (S3): a bounded number of synced items, the longest unverified first, looked up in
// the store: found and tracked is verified now; untracked or gone becomes a change row that
// the next cycle applies (deletions no event reported).
#include "cycle_context.hpp"

namespace crmsync::cycle {

void reconcile(Cycle& c) {
  auto oldest = c.must(c.cache.oldest_verified(c.settings.reconcile_batch));
  std::vector<EntryId> ids;
  for (const auto& m : oldest) ids.push_back(m.entry_id);
  auto items = c.read_all(ids);
  std::int64_t done = 0;
  c.batch();
  for (std::size_t i = 0; i < oldest.size(); ++i) {
    const Mapping& m = oldest[i];
    const Result<StoreItem>& item = items[i];
    ChangeNote note;
    note.store_timestamp = c.clock.now();
    if (item.ok() && item->link.tracked) {
      c.must(c.cache.set_verified(m.map_id, c.clock.now()));
    } else if (item.ok()) {
      note.store = StoreChange::kUntrack;  // S3 also catches untracks no event reported
      c.must(c.cache.note_change(m.map_id, note));
    } else if (item.error().is(ErrorKind::kNotFound)) {
      note.store = StoreChange::kDelete;
      c.must(c.cache.note_change(m.map_id, note));
    } else {
      throw Abort{item.error()};
    }
    c.step("reconcile", ++done, static_cast<std::int64_t>(oldest.size()));
  }
  c.commit();
  c.crash("reconcile");
}

}  // namespace crmsync::cycle
